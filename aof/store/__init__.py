"""The fleet root's stores: task files by state, hand-written drafts, the runtime state under
``.aof/`` (coder pauses, the daemon's state), what runs leave on disk (run folders, sealed
outcomes), and the typed view of a fleet the parts above take (``context``)."""
