"""The one exception tree of aof, each class with its CLI exit code.

Front ends map these once: the CLI prints ``Error: <message>`` on stderr and exits with
``exit_code``; the MCP server turns them into tool errors carrying the same message.
The codes are documented in docs/exit-codes.md and checked by tests.
"""

from __future__ import annotations


class AofError(Exception):
    """Base of every error aof raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(AofError, LookupError):
    """A task, file or other entity does not exist (or an id prefix matches nothing)."""

    exit_code = 3
    kind = "not_found"


class AmbiguousId(AofError):
    """An id prefix matches more than one task."""

    exit_code = 3
    kind = "ambiguous_id"


class InvalidTransition(AofError):
    """The lifecycle table does not allow this move, or its precondition is not met."""

    exit_code = 4
    kind = "invalid_transition"


class ClaimConflict(AofError):
    """Another claimant won the race for this task."""

    exit_code = 5
    kind = "claim_conflict"


class ValidationError(AofError):
    """A file, field or argument holds a value aof refuses; the message names all three."""

    exit_code = 6
    kind = "validation"


class ConfigError(AofError):
    """No fleet root could be found, or aof.yaml is invalid."""

    exit_code = 7
    kind = "config"


class LeaseError(AofError):
    """A fencing token is missing, stale or belongs to another claim."""

    exit_code = 8
    kind = "lease"


class ConcurrentModification(AofError):
    """The file changed between read and write (a lost update prevented), or a lock timed out."""

    exit_code = 9
    kind = "concurrent_modification"


class GitError(AofError):
    """A git command failed; the fleet root's files are written but not committed."""

    exit_code = 10
    kind = "git"


class RemoteError(AofError):
    """A remote host (hostd) or the remote API could not be reached, or answered with an
    error."""

    exit_code = 12
    kind = "remote"


class Unauthorized(AofError):
    """The remote API refused the token: missing, wrong, expired or revoked (HTTP 401)."""

    exit_code = 14
    kind = "unauthorized"


class Forbidden(Unauthorized):
    """The remote API refused the call for this token's scope (HTTP 403): another task's,
    another run's or another host's, or a verb the token does not open."""

    exit_code = 14
    kind = "forbidden"


class DaemonRunning(AofError):
    """A second `aof daemon` on a root whose daemon is alive (the message says who holds it)."""

    exit_code = 13
    kind = "daemon_running"


class RootExists(AofError):
    """`aof init` refuses to clobber an existing fleet root."""

    exit_code = 11
    kind = "root_exists"


class SyncConflict(AofError):
    """`aof sync` merged, but kept conflicting versions aside under .aof/conflicts/."""

    exit_code = 16
    kind = "sync_conflict"


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "problems found (lint, doctor) or an unexpected aof error",
    2: "usage error: unknown command, option or bad argument syntax (click)",
    3: "not found: no such task or entity, or an ambiguous id prefix",
    4: "invalid transition: the lifecycle does not allow it (or dependencies are not done)",
    5: "claim conflict: another claimant won",
    6: "validation error: a field or file holds a refused value",
    7: "config error: no fleet root found, or aof.yaml is invalid",
    8: "lease error: the fencing token is missing, stale or not the holder's",
    9: "concurrent modification: the file changed under us, or a lock timed out",
    10: "git error: the change is written but could not be committed",
    11: "refused to overwrite an existing fleet root",
    12: "remote error: a host's hostd or the remote API (AOF_API_URL) could not be reached "
    "or answered with an error",
    13: "a daemon is already running on this fleet root",
    14: "remote API refused: the token is wrong, revoked or expired (401), or not for this "
    "task, run or host (403)",
    16: "aof sync merged, but kept conflicting versions aside under .aof/conflicts/",
    70: "internal error (a bug): please report it with the traceback from AOF_DEBUG=1",
}
