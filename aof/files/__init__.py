"""Disk primitives: card files (Maildir-style atomic writes), fast YAML, locks, durability,
safe reads, owner-only files, the file system's clock and derived caches. Nothing here knows
what a task is."""
