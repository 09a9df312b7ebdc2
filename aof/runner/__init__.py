"""Running agents: executors (where a run's process lives) and coder adapters (what runs).

The scheduler's daemon dispatches through :class:`aof.runner.executor.Executor`; the local
executor and the built-in ``demo`` coder live here. The agent runner proper (worktrees per
run, typed outcomes, agent sessions) builds on the same interface.
"""
