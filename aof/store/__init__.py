"""The fleet root's stores: task files by state, and the runtime state under ``.aof/``
(coder pauses)."""
