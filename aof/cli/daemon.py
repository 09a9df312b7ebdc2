"""``aof daemon`` (run, status, health) and ``aof reconcile``."""

from __future__ import annotations

from typing import Any

import click

from . import Env, emit, json_option, parse_at, pass_env, reason_option


@click.group("daemon", invoke_without_command=True)
@click.option("--once", is_flag=True, help="Run one tick, then exit.")
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit 0 once no run of this daemon is alive and nothing can be dispatched now, "
    "printing what it leaves behind (for demos, CI and batch runs).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    metavar="S",
    help="Seconds between ticks (default: scheduler.interval_s in aof.yaml).",
)
@click.option("--no-watch", is_flag=True, help="Do not watch files; tick on the interval only.")
@click.option("--quiet", is_flag=True, help="Log to runs/daemon.log only, not to stderr.")
@click.option(
    "--coder",
    metavar="NAME",
    help="The default coder for this daemon (replaces defaults.coder of aof.yaml; a task's, "
    "agent's or project's own coder still wins).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    metavar="P",
    help="Serve Prometheus metrics at http://127.0.0.1:P/metrics (0: a free port, logged).",
)
@click.pass_context
def daemon_group(
    ctx: click.Context,
    once: bool,
    until_idle: bool,
    interval: float | None,
    no_watch: bool,
    quiet: bool,
    coder: str | None,
    metrics_port: int | None,
) -> None:
    """Run the scheduler: dispatch ready tasks to coders, supervise runs, commit per tick.

    One daemon per fleet root (a second one exits 13 naming the first). SIGTERM or
    SIGINT stops it after the current tick; running agents keep their leases and the next
    daemon adopts them. Logs go to stderr and runs/daemon.log.

    --until-idle waits while its own runs are alive, then exits and prints each task it
    leaves behind: in progress under someone else's lease (holder, expiry), or ready but
    waiting (on a dependency, a schedule window, a retry time, a paused coder, a limit).

    \b
    Example:
      aof daemon                      # until stopped
      aof daemon --until-idle --interval 1
      aof daemon --coder claude       # claude unless a task, agent or project says otherwise
      aof daemon --metrics-port 9108  # Prometheus metrics at http://127.0.0.1:9108/metrics
      aof daemon status --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from pathlib import Path

    from ..fleetapi import find_root
    from ..scheduler.daemon import Daemon

    env: Env = ctx.obj
    root = find_root(env.root_opt, None, Path.cwd())
    if coder:
        from ..fleetapi import check_coder

        check_coder(root, coder)  # unknown: exit 6 before starting
    daemon = Daemon(
        root,
        interval_s=interval,
        watch=not no_watch,
        log_to_stderr=not quiet,
        coder=coder,
        metrics_port=metrics_port,
    )
    daemon.install_signals()
    code = daemon.run(once=once, until_idle=until_idle)
    outlook = daemon.outlook
    if until_idle and outlook is not None and outlook.idle:
        lines = outlook.report()
        head = f"idle after {daemon.ticks} tick(s): {outlook.left_behind()}"
        click.echo("\n".join([head + (":" if lines else ""), *lines]))
    ctx.exit(code)


@daemon_group.command("status")
@click.option("--team", help="Only this team's projects.")
@click.option("--project", help="Only this project.")
@json_option
@pass_env
def status_cmd(env: Env, team: str | None, project: str | None, as_json: bool) -> None:
    """Show the daemon (alive?, last tick, runs) and each project's desired vs observed state.

    \b
    Example:
      aof daemon status --project site --json
    """
    from ..fleetapi import daemon_info, project_states

    fleet = env.fleet()
    info = daemon_info(fleet)
    if project is not None:
        fleet.registry.get("project", project)  # NotFound names it
    rows = project_states(fleet, team=team, daemon_alive=info["running"])
    if project is not None:
        rows = [r for r in rows if r["project"] == project]
    from ..runner.executor import LocalExecutor

    runs = [r.to_json() for r in LocalExecutor(fleet.root).runs()]
    data = {"daemon": info, "runs": runs, "projects": rows}
    emit(data, as_json, _status_text(data))


def _status_text(data: dict[str, Any]) -> str:
    info = data["daemon"]
    if info["running"]:
        last = info.get("last_tick") or {}
        head = (
            f"daemon: running (pid {info.get('pid')} on {info.get('host')}, since "
            f"{info.get('started')}, {info.get('ticks', 0)} tick(s), last at "
            f"{last.get('at', '-')} in {last.get('ms', '-')} ms; watch {info.get('watch')})"
        )
    elif info.get("pid"):
        head = f"daemon: not running (last: pid {info.get('pid')}, {info.get('state')})"
    else:
        head = "daemon: never started on this fleet root (`aof daemon`)"
    lines = [head, f"runs: {len(data['runs'])}"]
    for r in data["runs"]:
        lines.append(f"  {r['run_id']:<14} {r['state']:<8} {r['coder']:<8} pid {r['pid']}")
    lines.append("projects:")
    for r in data["projects"]:
        lines.append(
            f"  {r['project']:<20} {r['runner']:<4} desired {r['desired']:<8} observed "
            f"{r['observed']:<11} action {r['action']:<7} {r['active']} active"
        )
    if not data["projects"]:
        lines.append("  (none)")
    return "\n".join(lines)


@daemon_group.command("health")
@click.option("--team", help="Only this team's projects.")
@json_option
@pass_env
def health_cmd(env: Env, team: str | None, as_json: bool) -> None:
    """Roll up desired vs observed: total, running, aligned, degraded, unobserved.

    Also names the hosts whose workers sent no heartbeat for hosts.down_after_s. Exits 1
    when any project is degraded or any host is down, so it works as a monitoring probe.

    \b
    Example:
      aof daemon health --json
    """
    from ..fleetapi import health

    data = health(env.fleet(), team=team)
    text = (
        f"daemon {'running' if data['daemon_running'] else 'NOT running'}; "
        f"{data['total']} project(s): "
        f"{data['aligned']} aligned, {data['degraded']} degraded, {data['unobserved']} "
        f"unobserved ({data['desired_running']} should run, {data['observed_running']} do)"
    )
    if data["hosts_down"]:
        text += f"\nhost(s) down (no heartbeat): {', '.join(data['hosts_down'])}"
    emit(data, as_json, text)
    if data["degraded"] or data["hosts_down"]:
        raise click.exceptions.Exit(1)


@click.command("reconcile")
@click.option("--team", help="Only this team.")
@click.option("--at", metavar="TIME", help="Evaluate desired state at this time (default: now).")
@click.option("--apply", "do_apply", is_flag=True, help="Carry out the actions (default: preview).")
@reason_option
@json_option
@pass_env
def reconcile_cmd(
    env: Env, team: str | None, at: str | None, do_apply: bool, as_json: bool
) -> None:
    """Compare each project's desired state with what runs, and show (or apply) the fix.

    Desired: schedules, overrides and the backlog measured from the task directories.
    Observed: the AO daemon of AO projects (the `ao` CLI), the aof daemon for the rest.
    Actions: start, stop, pause, resume; every applied action is audited.

    \b
    Example:
      aof reconcile --team marketing --at 2026-11-23T20:00:00Z --json
      aof reconcile --apply
    """
    from ..fleetapi import reconcile

    rows, data = reconcile(env.fleet(), at=parse_at(at), team=team, do_apply=do_apply)
    lines = [f"reconcile at {data['at']}{'' if do_apply else ' (preview; --apply to act)'}"]
    for r in rows:
        result = ""
        if r.applied is not None:
            result = " -> done" if r.applied else f" -> FAILED: {r.result}"
        lines.append(
            f"  {r.team}/{r.project}: desired {r.desired}, observed {r.observed}: "
            f"{r.action}{result}  ({r.desired_reason})"
        )
    if not rows:
        lines.append("  no projects")
    emit(data, as_json, "\n".join(lines))
    if do_apply and any(r.applied is False for r in rows):
        raise click.exceptions.Exit(1)
