"""Running agents (docs/agents.md).

- :mod:`.executor`: where a run's process lives (the daemon's :class:`Executor` interface,
  and the local one);
- :mod:`.shim`: the supervisor of one run (worktree, coder process, events, budgets, lease,
  outcome);
- :mod:`.launch`: from a claimed task to a run's argv, prompt, environment and limits (the
  coders themselves are :mod:`aof.coders`);
- :mod:`.worktrees`, :mod:`.sessions`, :mod:`.tmux`: worktrees per task, agent sessions
  (``aof agent ...``) and coders in tmux panes.
"""
