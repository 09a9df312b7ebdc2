"""Coders: the adapters for each coder CLI (argv, environment, output parsing), the choice
of coder and model for a task, the built-in demo coder, and tmux as a program of this
machine (tmux mode)."""
