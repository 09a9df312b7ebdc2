"""The part of a failed CI job's log an agent needs: the error region, at most 200 lines.

A GitHub Actions job log is plain text, one line per output line, each prefixed by a
timestamp; it ends with the steps that run after a failure (post steps, cleanup). The excerpt
drops the timestamps and colour codes, finds the lines that look like errors, and keeps the
region from a little before the first of them to a few lines after the last, within the last
``max_lines`` lines; a log with no such line keeps its last ``max_lines`` lines.
"""

from __future__ import annotations

import re

MAX_LINES = 200
MAX_CHARS = 40_000  # an excerpt is sent to an agent: a few minified lines must not flood it
BEFORE = 20  # context kept above the first error line
AFTER = 5  # and below the last one

_STAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ERROR = re.compile(
    r"##\[error\]|\berror\b|\bERROR\b|\bFAILED\b|\bFAIL\b|\bfailed\b|Traceback \(most recent"
    r"|\bpanic:|\bException\b|AssertionError|exit code [1-9]",
    re.IGNORECASE,
)
# The runner's own lines after the failure: not part of the error.
_EPILOGUE = re.compile(r"^(?:##\[group\])?(?:Post job cleanup\.|Cleaning up orphan processes)")


def clean(text: str) -> list[str]:
    """The log's lines without timestamps and terminal colour codes."""
    return [_ANSI.sub("", _STAMP.sub("", line)) for line in text.splitlines()]


def excerpt(text: str, max_lines: int = MAX_LINES) -> str:
    """The error region of a job log (see the module's docstring)."""
    lines = clean(text)
    cut = next((i for i, ln in enumerate(lines) if _EPILOGUE.match(ln)), len(lines))
    lines = lines[:cut]
    while lines and not lines[-1].strip():
        lines.pop()
    marks = [i for i, ln in enumerate(lines) if _ERROR.search(ln)]
    if marks:
        end = min(len(lines), marks[-1] + 1 + AFTER)
        first = next((i for i in marks if i >= end - max_lines), end - max_lines)
        kept = lines[max(end - max_lines, first - BEFORE, 0) : end]
    else:
        kept = lines[-max_lines:]
    out = "\n".join(kept)
    return out[-MAX_CHARS:] if len(out) > MAX_CHARS else out
