"""Running agents (docs/agents.md).

- :mod:`.executor`: where a run's process lives (the daemon's :class:`Executor` interface,
  and the local one);
- :mod:`.shim`: the supervisor of one run (worktree, coder process, events, budgets, lease,
  outcome);
- :mod:`.adapters`: the coders (claude, codex, aider, gemini, opencode, command, demo),
  registered through the ``aof.coders`` entry points;
- :mod:`.coders` and :mod:`.launch`: which coder and model, and the argv, prompt and
  environment of a run;
- :mod:`.worktrees`, :mod:`.pauses`, :mod:`.sessions`: worktrees per task, coder pauses on
  usage limits, and agent sessions (``aof agent ...``).
"""
