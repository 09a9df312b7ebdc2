"""Running agents (docs/agents.md).

- :mod:`.executor`: where a run's process lives (the daemon's :class:`Executor` interface,
  and the local one);
- :mod:`.dispatch`: the one way a run starts: claim, build, submit, settle a failed start
  (the daemon's dispatch and agent sessions alike);
- :mod:`.launch`: from a claimed task to a run's argv, prompt, environment and limits (the
  coders themselves are :mod:`aof.coders`);
- :mod:`.shim`: the supervisor of one run (worktree, coder process, budgets, lease,
  outcome), with :mod:`.meter` (its event log and what the run used);
- :mod:`.worktrees`, :mod:`.worktree_admin`, :mod:`.tmux`: worktrees per task (made,
  listed, pruned) and coders in tmux panes;
- :mod:`.sessions`: agent sessions (``aof agent ...``), with :mod:`.agent_list` (the
  listing), :mod:`.runlogs` (their logs) and :mod:`.stopping` (``aof agent kill``).
"""
