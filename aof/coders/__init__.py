"""Coders: the adapters for each coder CLI (argv, environment, output parsing), the choice
of coder and model for a task, and the built-in demo coder."""
