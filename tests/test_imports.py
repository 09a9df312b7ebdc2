"""What `aof task create` imports, listed: a new import on the create path fails here, named.

The CLI call that matters most for a fleet's speed is the one agents and scripts make most:
creating a task. Its import time is most of its cost (docs/performance.md, "Import times"),
so the aof modules and third-party packages it loads are an allow-list. A change that adds
one either makes it lazy or adds it here, on purpose.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import sub_env

# aof's own modules a plain `aof task create TITLE` loads (a local fleet root, with its commit).
CREATE_AOF_MODULES = frozenset(
    {
        "aof",
        "aof.cli",
        "aof.cli.confine",
        "aof.cli.safe_text",
        "aof.cli.task",
        "aof.cli.task_options",
        "aof.clock",
        "aof.errors",
        "aof.files",
        "aof.files.atomic",
        "aof.files.cache",
        "aof.files.cardfile",
        "aof.files.durability",
        "aof.files.fsclock",  # the id caches of the month shards are stamped by it
        "aof.files.locks",
        "aof.files.safefs",
        "aof.files.stampcache",
        "aof.files.yamlfast",
        "aof.files.yamlrt",
        "aof.fleet",
        "aof.fleetapi",
        "aof.journal",
        "aof.journal.audit",
        "aof.journal.git",
        "aof.journal.gitindex",
        "aof.journal.identity",
        "aof.journal.origin",
        "aof.launch",
        "aof.layout",
        "aof.model",
        "aof.model.branches",
        "aof.model.config",
        "aof.model.forges",
        "aof.model.reactions",
        "aof.model.resources",
        "aof.model.sla",
        "aof.model.task",
        "aof.model.text",
        "aof.service",
        "aof.service.authoring",
        "aof.service.newroot",
        "aof.service.pipeline",
        "aof.service.reads",
        "aof.service.rules",
        "aof.store",
        "aof.store.context",
        "aof.store.summary",
        "aof.store.tasks",
    }
)
# Third-party packages (top-level names) it loads beyond what the bare interpreter loads.
CREATE_THIRD_PARTY = frozenset({"click"})
# Standard-library packages that cost milliseconds to import and that a create has no use
# for (logging alone is ~3 ms): a module that needs one imports it where it is used.
CREATE_NEVER_STDLIB = frozenset(
    {
        "argparse", "asyncio", "concurrent", "decimal", "email", "hashlib", "http",
        "logging", "multiprocessing", "shutil", "socket", "sqlite3", "ssl", "tarfile",
        "tempfile", "unittest", "xml", "zipfile",
    }
)  # fmt: skip

REPORT = (
    "import sys\n"
    "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    "sys.stderr.write('\\nSTDLIB ' + ' '.join(sorted(sys.stdlib_module_names)))\n"
)


def modules_after(code: str, cwd: Path) -> tuple[set[str], set[str]]:
    """(sys.modules, the standard library's top-level names) after ``code`` in a fresh
    interpreter run from ``cwd``."""
    out = subprocess.run(
        [sys.executable, "-c", code + REPORT],
        capture_output=True,
        text=True,
        env=sub_env(),
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr
    mods = out.stderr.rsplit("\nMODULES ", 1)[1].split("\nSTDLIB ")
    return set(mods[0].split()), set(mods[1].split())


def test_task_create_imports_only_the_listed_modules(root: Path) -> None:
    create = (
        "import runpy\n"
        f"sys.argv = ['aof', '--root', {str(root)!r}, 'task', 'create', 'Imports']\n"
        "try:\n    runpy.run_module('aof', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
    )
    loaded, stdlib = modules_after("import sys\n" + create, root)
    bare, _ = modules_after("", root)
    assert list((root / "tasks" / "backlog").glob("t-*-imports.md")), "the task was not created"

    aof_mods = {m for m in loaded if m == "aof" or m.startswith("aof.")}
    assert sorted(aof_mods - CREATE_AOF_MODULES) == [], "newly imported by `task create`"
    assert sorted(CREATE_AOF_MODULES - aof_mods) == [], "no longer imported: drop from the list"

    tops = {m.split(".")[0] for m in loaded - bare}
    third = {t for t in tops if t not in stdlib and t != "aof"}
    assert sorted(third - CREATE_THIRD_PARTY) == [], "third-party packages new on this path"
    assert sorted(CREATE_THIRD_PARTY - third) == [], "no longer imported: drop from the list"
    assert sorted(tops & CREATE_NEVER_STDLIB) == [], "heavy standard modules on this path"
