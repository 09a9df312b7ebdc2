"""``aof plan`` and ``aof why``: what the scheduler would do, and why, without doing it."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, json_option, parse_at, pass_env
from .task_options import complete_task_ids


@click.command("plan")
@click.option("--at", metavar="TIME", help="Plan for this time (default: now).")
@click.option(
    "--replay",
    metavar="REF",
    help="Recompute the plan of the latest daemon tick at or before REF (a commit, branch, "
    "tag, HEAD~3, ...) and compare digests.",
)
@json_option
@pass_env
def plan_cmd(env: Env, at: str | None, replay: str | None, as_json: bool) -> None:
    """Show what the scheduler would do now: actions, and why each waiting task waits.

    Nothing is applied. The same fleet and time give the same plan, byte for byte;
    --replay proves it for a past daemon tick (exit 1 if the plans differ): the latest
    tick at or before REF, named in the output.

    \b
    Example:
      aof plan --at 2026-11-23T10:00:00Z --json
      aof plan --replay HEAD
    """
    if replay is not None:
        if at is not None:
            raise click.UsageError("--replay takes the time from the commit; drop --at")
        out = env.fleet().replay(replay)
        verdict = "matches" if out["match"] else "DIFFERS FROM"
        emit(out, as_json, _replay_text(out, verdict))
        if not out["match"]:
            raise click.exceptions.Exit(1)
        return
    result = env.fleet().plan(parse_at(at))
    if as_json:
        emit(result, True)
        return
    lines = [f"plan at {result['at']}"]
    for a in result["actions"]:
        if a["kind"] == "dispatch":
            extra = f" -> {a['agent'] or 'any agent'} ({a['coder']})"
        elif a["kind"] == "review":
            extra = f" at gate {a['gate']} -> reviewer {a['agent']} ({a['coder']})"
        elif a["kind"] == "gate":
            extra = f": aof runs command gate {a['gate']}"
        else:
            extra = f": {a.get('reason', '')}" + (f" -> {a['to']}" if a.get("to") else "")
        lines.append(f"  {a['kind']:<9} {a['task']}{extra}")
    for w in result["waiting"]:
        lines.append(f"  waiting   {w['task']}: {w['reason']}")
    if len(lines) == 1:
        lines.append("  nothing to do: no ready task, no gate to work on, no expired lease")
    click.echo("\n".join(lines))


def _replay_text(out: dict[str, Any], verdict: str) -> str:
    """Name the tick replayed, and the REF it was found from when that is another commit."""
    where = ""
    if out["ref_commit"] != out["commit"]:
        where = f" (the latest tick at or before {out['ref']}, {out['ref_commit'][:10]})"
    return (
        f"replayed tick {out['commit'][:10]}{where} at {out['at']}: plan {out['digest']} "
        f"{verdict} the recorded {out['recorded']}"
    )


@click.command("why")
@click.argument("ref", metavar="ID", shell_complete=complete_task_ids)
@click.option("--at", metavar="TIME", help="Explain at this time (default: now).")
@json_option
@pass_env
def why_cmd(env: Env, ref: str, at: str | None, as_json: bool) -> None:
    """Explain in one sentence why a task is, or is not, being worked on.

    \b
    Example:
      aof why t-3kf9
    """
    fleet = env.fleet()
    text = fleet.why(ref, parse_at(at))
    emit({"id": fleet.get_task(ref).id, "why": text}, as_json, text)
