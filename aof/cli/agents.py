"""``aof agent spawn|fanout|multi|prompt|logs|attach|kill|list``, ``aof worktree``, ``aof top``.

The agent-session commands join the ``aof agent`` group of the registry (whose profile
listing is ``aof agent profiles``). Each is one call on :class:`aof.runner.sessions.Sessions`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from . import Env, emit, json_option, pass_env, reason_option
from .registry import agent
from .safe_text import safe_text


def _sessions(env: Env) -> Any:
    from ..runner.sessions import Sessions

    return Sessions(env.fleet())


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option(
                "--project",
                metavar="SLUG",
                help="The project (default: the one whose directory you are in).",
            ),
            click.option(
                "--coder",
                metavar="NAME",
                help="claude, codex, aider, gemini, "
                "opencode, demo, or a coder of aof.yaml (default: resolved as usual).",
            ),
            click.option("--model", metavar="MODEL", help="The model to ask the coder for."),
            click.option("--quick", is_flag=True, help="Skip the project's setup commands."),
            click.option(
                "--tmux/--headless",
                default=None,
                help="Run in a tmux session you can attach to and type into, or headless "
                "(default: runner.tmux in aof.yaml, else headless).",
            ),
            reason_option,
            json_option,
        ]
    ):
        f = opt(f)
    return f


def _started(rows: list[dict[str, Any]], as_json: bool, batch: str | None = None) -> None:
    lines = []
    for r in rows:
        if r.get("started"):
            where = f" in {r['worktree']}" if r.get("worktree") else ""
            lines.append(f"started {r['branch']} ({r['task']}) with {r['coder']}{where}")
            if r.get("tmux"):
                lines.append(f"  attach: aof agent attach {r['branch']}")
        else:
            lines.append(f"{r['branch']} ({r['task']}): {r.get('note')}")
    if batch:
        lines.append(f"batch {batch}: `aof agent list --grouped`, `aof agent kill --batch {batch}`")
    emit({"batch": batch, "agents": rows} if batch else rows[0], as_json, "\n".join(lines))


@agent.command("spawn")
@click.argument("branch", required=False)
@click.option("--prompt", "prompt", metavar="TEXT", help="What the agent is to do.")
@click.option(
    "--issue",
    type=click.IntRange(1),
    metavar="N",
    help="Work on issue N of the project's GitHub repository instead of a prompt: its task "
    "(imported first when needed) is started.",
)
@run_options
@pass_env
def spawn_cmd(
    env: Env, /, branch: str | None, prompt: str | None, issue: int | None, as_json: bool,
    **opts: Any,
) -> None:  # fmt: skip
    """Start one agent on BRANCH now: a task created, claimed and run in a worktree.

    With --issue N, the task is issue N's (`aof issues import`), on BRANCH if given, else
    on the task's own branch.

    \b
    Example:
      aof agent spawn fix-login --prompt "Fix the login redirect loop" --project site
      aof agent spawn --issue=42 --project site
    """
    if issue is not None:
        if prompt:
            raise click.UsageError("--prompt: not with --issue (the issue says what to do)")
        import os

        from ..forge.github import forge_for
        from ..forge.issues import spawn_issue

        fleet = env.fleet()
        forge = forge_for(fleet.config.data, os.environ)
        _started([spawn_issue(fleet, forge, issue, branch=branch, **opts)], as_json)
        return
    if not branch or not prompt:
        raise click.UsageError("give BRANCH and --prompt TEXT, or --issue N")
    rows = _sessions(env).start_many([(branch, prompt)], **opts)
    _started(rows, as_json)


@agent.command("fanout")
@click.argument("count", type=click.IntRange(1, 100))
@click.argument("prefix", required=False, default="agent")
@click.option(
    "--prompt", "prompt", required=True, metavar="TEXT", help="What every agent is to do."
)
@run_options
@pass_env
def fanout_cmd(
    env: Env, /, count: int, prefix: str, prompt: str, as_json: bool, **opts: Any
) -> None:
    """Start COUNT agents on one prompt (branches PREFIX-1..COUNT), as one batch.

    \b
    Example:
      aof agent fanout 5 try --prompt "Make the test suite faster" --project api
    """
    s = _sessions(env)
    batch = s.new_batch_id()
    pairs = [(f"{prefix}-{i}", prompt) for i in range(1, count + 1)]
    _started(s.start_many(pairs, batch=batch, **opts), as_json, batch)


@agent.command("multi")
@click.argument("pairs", nargs=-1, required=True, metavar="BRANCH:PROMPT...")
@run_options
@pass_env
def multi_cmd(env: Env, /, pairs: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Start one agent per BRANCH:PROMPT pair, as one batch.

    \b
    Example:
      aof agent multi "fix-nav:Fix the nav bar" "add-faq:Add an FAQ page" --project site
    """
    parsed = []
    for pair in pairs:
        branch, sep, text = pair.partition(":")
        if not sep or not branch.strip() or not text.strip():
            raise click.BadParameter(f"{pair!r} is not BRANCH:PROMPT", param_hint="PAIRS")
        parsed.append((branch.strip(), text.strip()))
    s = _sessions(env)
    batch = s.new_batch_id()
    _started(s.start_many(parsed, batch=batch, **opts), as_json, batch)


@agent.command("prompt")
@click.argument("agent_ref", metavar="AGENT")
@click.argument("text")
@click.option(
    "--setup", is_flag=True, help="Run the project's setup commands if a worktree is made."
)
@reason_option
@json_option
@pass_env
def prompt_cmd(env: Env, agent_ref: str, text: str, setup: bool, as_json: bool) -> None:
    """Give AGENT (a branch or task id) a follow-up instruction.

    An agent running in tmux gets TEXT typed into its session (the task's work log records
    it). Otherwise a follow-up run resumes the coder's conversation where the coder supports
    it (claude, codex, gemini, opencode, aider's chat history); a finished agent's follow-up
    is a new child task on the same branch.

    \b
    Example:
      aof agent prompt fix-login "Also cover the logout path with a test"
    """
    row = _sessions(env).prompt(agent_ref, text, quick=not setup)
    if row.get("typed"):
        emit(row, as_json, f"typed into {row['branch']}'s tmux session ({row['task']})")
        return
    resumed = f", resuming {row['resumed']}" if row.get("resumed") else ""
    emit(row, as_json, f"follow-up started for {row['branch']} ({row['task']}){resumed}")


@agent.command("logs")
@click.argument("agent_ref", metavar="AGENT")
@click.option(
    "-n", "lines", type=click.IntRange(1), default=50, show_default=True, help="Lines to show."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends.")
@click.option("--raw", is_flag=True, help="The coder's own stdout/stderr, not the events.")
@pass_env
def logs_cmd(env: Env, agent_ref: str, lines: int, follow: bool, raw: bool) -> None:
    """Show what AGENT's latest run did (normalized events, or --raw output).

    \b
    Example:
      aof agent logs fix-login -n 100 -f
    """
    s = _sessions(env)
    task, run_dir, text = s.logs(agent_ref, lines=lines, raw=raw)
    if run_dir is None:
        click.echo(f"{task.id} has not run yet", err=True)
        return
    if text:
        click.echo(safe_text(text))
    if follow:
        try:
            for line in s.follow(agent_ref, raw=raw):
                click.echo(safe_text(line))
        except KeyboardInterrupt:
            pass


@agent.command("attach")
@click.argument("agent_ref", metavar="AGENT")
@click.option("--read-only", is_flag=True, help="Watch without being able to type.")
@click.option("--print", "print_only", is_flag=True, help="Print the tmux command instead.")
@pass_env
def attach_cmd(env: Env, agent_ref: str, read_only: bool, print_only: bool) -> None:
    """Attach your terminal to AGENT's tmux session (agents started with --tmux).

    Detach again with the tmux prefix and d (C-b d); the agent goes on. A headless agent
    has no session: `aof agent logs AGENT -f` follows its output.

    \b
    Example:
      aof agent attach fix-login --read-only
    """
    import os
    import shlex

    argv = _sessions(env).attach_argv(agent_ref, read_only=read_only)
    if print_only:
        click.echo(shlex.join(argv))
        return
    os.execvp(argv[0], argv)


@agent.command("kill")
@click.argument("pattern", required=False)
@click.option("--batch", metavar="ID", help="Every agent of this batch.")
@click.option("--force", is_flag=True, help="SIGKILL at once instead of SIGTERM and a grace.")
@reason_option
@json_option
@pass_env
def kill_cmd(env: Env, pattern: str | None, batch: str | None, force: bool, as_json: bool) -> None:
    """Stop live agents whose branch or task id matches PATTERN (a glob), or a --batch,
    with their whole process trees; each task is blocked with who stopped it.

    \b
    Example:
      aof agent kill 'fix-*'
      aof agent kill --batch b-k3j9xa --force
    """
    rows = _sessions(env).kill(pattern, batch=batch, force=force)
    lines = [
        f"stopped {r['agent']} ({r['task']}): {len(r['pids'])} process(es)"
        + ("" if r["stopped"] else f"; still alive: {r['left']}")
        for r in rows
    ]
    emit(rows, as_json, "\n".join(lines) or "no live agent matched")
    if any(not r["stopped"] for r in rows):
        sys.exit(1)


def _fmt(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key in ("elapsed_s", "idle_s"):
        s = int(value)
        return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
    if key == "cost_usd":
        return f"${value:.2f}"
    if key in ("cpu_pct", "context_peak_pct"):
        return f"{value:.0f}%"
    if key == "mem_mb":
        return f"{value:.0f}M"
    return str(value)


COLUMNS = [
    ("AGENT", "agent"), ("STATE", "state"), ("CODER", "coder"), ("CPU", "cpu_pct"),
    ("MEM", "mem_mb"), ("ELAPSED", "elapsed_s"), ("IDLE", "idle_s"), ("TOKENS", "tokens"),
    ("CTX", "context_peak_pct"), ("COST", "cost_usd"), ("TASK", "task"),
]  # fmt: skip


# The columns a narrow terminal gives up first, in order; AGENT, STATE, ELAPSED and TASK stay.
DROP_ORDER = ("idle_s", "tokens", "mem_mb", "cpu_pct", "context_peak_pct", "cost_usd", "coder")
MIN_TEXT = 8  # AGENT and TASK are shortened, never below this many characters


def fit_columns(rows: list[dict[str, Any]], width: int) -> tuple[list[tuple[str, str]], list[int]]:
    """The columns (and their widths) that fit ``width`` characters: the least useful columns
    are dropped first, then the agent and task names are shortened."""
    columns = list(COLUMNS)

    def widths_of(cols: list[tuple[str, str]]) -> list[int]:
        return [max(len(h), *(len(_fmt(r, k)) for r in rows)) for h, k in cols]

    def total(ws: list[int]) -> int:
        return sum(ws) + 2 * (len(ws) - 1)

    widths = widths_of(columns)
    for key in DROP_ORDER:
        if total(widths) <= width:
            break
        columns = [c for c in columns if c[1] != key]
        widths = widths_of(columns)
    for key in ("task", "agent"):
        excess = total(widths) - width
        if excess <= 0:
            break
        i = [k for _, k in columns].index(key)
        widths[i] = max(MIN_TEXT, widths[i] - excess)
    return columns, widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table_text(rows: list[dict[str, Any]], grouped: bool = False, width: int | None = None) -> str:
    """The agents as a plain table that fits ``width`` (default: the terminal's width)."""
    if not rows:
        return "no agents"
    if width is None:
        import shutil

        width = shutil.get_terminal_size((80, 24)).columns
    columns, widths = fit_columns(rows, width)

    def line(parts: list[str]) -> str:
        return "  ".join(_cut(p, w).ljust(w) for p, w in zip(parts, widths, strict=True))

    out = [line([h for h, _ in columns]).rstrip()]
    last: object = object()
    for r in rows:
        if grouped and r.get("batch") != last:
            last = r.get("batch")
            out.append(_cut(f"# batch {last}" if last else "# no batch", width))
        out.append(line([_fmt(r, k) for _, k in columns]).rstrip())
    return "\n".join(out)


def live_table(rows: list[dict[str, Any]], width: int) -> Any:
    """``aof top``'s rich table of ``rows``, fitting ``width`` like :func:`table_text`."""
    from rich.table import Table  # type: ignore[import-not-found,unused-ignore]

    columns, widths = fit_columns(rows, width) if rows else (COLUMNS, [])
    table = Table(  # no borders, two spaces between columns: the plain table's layout
        title=f"aof top: {len(rows)} agent(s)  ({time.strftime('%H:%M:%S')})",
        box=None,
        pad_edge=False,
        padding=(0, 2, 0, 0),
    )
    for i, (header, _) in enumerate(columns):
        w = widths[i] if widths else None
        table.add_column(header, no_wrap=True, max_width=w, overflow="ellipsis")
    for r in rows:
        style = "green" if r["state"] == "running" else None
        table.add_row(*(_fmt(r, k) for _, k in columns), style=style)
    return table


@agent.command("list")
@click.option("--grouped", is_flag=True, help="Group by batch.")
@click.option("--all", "all_", is_flag=True, help="Also finished agent sessions.")
@json_option
@pass_env
def list_cmd(env: Env, grouped: bool, all_: bool, as_json: bool) -> None:
    """Live agents and open agent sessions: state, CPU, memory, elapsed, idle, tokens, peak
    context use (CTX), cost.

    \b
    Example:
      aof agent list --grouped
    """
    rows = _sessions(env).listing(all_sessions=all_)
    emit(rows, as_json, table_text(rows, grouped))


# --- aof worktree ------------------------------------------------------------------------------


@click.group("worktree")
def worktree_group() -> None:
    """The git worktrees agents work in (runner.worktrees_dir, default .aof/worktrees/).

    \b
    Example:
      aof worktree list
      aof worktree prune --dry-run
    """


@worktree_group.command("list")
@json_option
@pass_env
def worktree_list(env: Env, as_json: bool) -> None:
    """Every agent worktree: task, state, branch, repository, live processes.

    \b
    Example:
      aof worktree list --json
    """
    from ..runner.worktree_admin import list_worktrees

    rows = list_worktrees(env.fleet())
    text = "\n".join(
        f"{r['task']:<12} {r['state']:<12} {r['branch'] or '-':<24} "
        f"{'live' if r['live'] else '-':<5} {r['path']}"
        for r in rows
    )
    emit(rows, as_json, text or "no worktrees")


@worktree_group.command("prune")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
@pass_env
def worktree_prune(env: Env, dry_run: bool, as_json: bool) -> None:
    """Remove worktrees of tasks that are done, cancelled or gone; never one a live agent
    is using (its branch, and so the work, stays).

    \b
    Example:
      aof worktree prune --dry-run
    """
    from ..runner.worktree_admin import prune_worktrees

    rows = prune_worktrees(env.fleet(), dry_run=dry_run)
    text = "\n".join(f"{r['action']:<13} {r['task']:<12} {r['reason']}" for r in rows)
    emit(rows, as_json, text or "no worktrees")


# --- aof top ---------------------------------------------------------------------------------


@click.command("top")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    metavar="S",
    help="Seconds between refreshes.",
)
@click.option("--once", is_flag=True, help="Print the table once and exit.")
@json_option
@pass_env
def top_cmd(env: Env, interval: float, once: bool, as_json: bool) -> None:
    """A live table of running agents, refreshed in place (plain text when not on a
    terminal, or with --once; --json: the rows once, as aof agent list --json). CTX is
    the peak context use of the run, in percent of the coder's context window.

    \b
    Example:
      aof top --interval 1
    """
    s = _sessions(env)
    if once or as_json or not sys.stdout.isatty():
        rows = s.listing()
        emit(rows, as_json, table_text(rows))
        return
    from rich.live import Live  # type: ignore[import-not-found,unused-ignore]

    def render() -> Any:
        import shutil

        return live_table(s.listing(), shutil.get_terminal_size((80, 24)).columns)

    try:
        with Live(render(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(render())
    except KeyboardInterrupt:
        pass
