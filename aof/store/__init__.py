"""The fleet root's stores: task files by state, hand-written drafts, and the runtime state
under ``.aof/`` (coder pauses, the daemon's state); the typed view of a fleet the parts above
take (``context``)."""
