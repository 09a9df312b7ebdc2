"""The fleet root's stores: task files by state, the runtime state under ``.aof/`` (coder
pauses), and what runs leave on disk (run folders, sealed outcomes)."""
