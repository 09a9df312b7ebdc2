"""``aof completion SHELL``: print the shell completion script for bash, zsh or fish."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_cmd(shell: str) -> None:
    """Print the completion script for SHELL; commands, options and task ids complete.

    \b
    Example:
      aof completion bash > ~/.local/share/bash-completion/completions/aof
      aof completion zsh > "${fpath[1]}/_aof"
      aof completion fish > ~/.config/fish/completions/aof.fish
      eval "$(aof completion bash)"      # this shell only
    """
    from click.shell_completion import get_completion_class

    from . import cli

    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS is one of click's
    click.echo(cls(cli, {}, "aof", "_AOF_COMPLETE").source())
