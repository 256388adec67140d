"""Every command explains itself: `--help` works everywhere, no description is cut
short in a command list, and every option says what it is for."""

from __future__ import annotations

import click
from click.testing import CliRunner

from switch.cli import cli


def groups(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += groups(command, (*path, name))
    return found


def test_no_command_description_is_cut_short() -> None:
    runner = CliRunner()
    for path in groups(cli):
        out = runner.invoke(cli, [*path, "--help"], terminal_width=80)
        assert out.exit_code == 0, (path, out.output)
        listed = out.output.split("Commands:", 1)[-1] if "Commands:" in out.output else ""
        assert "..." not in listed, (path, listed)


def test_every_option_has_help() -> None:
    def commands(group: click.Group) -> list[click.Command]:
        out: list[click.Command] = []
        for command in group.commands.values():
            out += commands(command) if isinstance(command, click.Group) else [command]
        return out

    bare = [
        f"{command.name} {param.name}"
        for command in commands(cli)
        for param in command.params
        if isinstance(param, click.Option) and not param.help and param.name != "help"
    ]
    assert bare == [], bare
