"""Text for a terminal: control characters from task files and coder output made visible.

A title, a label, a file name or a line a coder printed can hold escape sequences (OSC 52
writes the operator's clipboard, CSI moves the cursor and rewrites what is on screen). Every
text aof prints for people goes through :func:`safe_text`, which shows C0 and C1 controls
(except newline and tab) and the bidirectional overrides as visible escapes such as ``\\x1b``.
JSON output is not touched: it escapes control characters itself and stays exact.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every terminal control character (but ``\\n`` and ``\\t``) escaped."""
    return _UNSAFE.sub(_visible, text)
