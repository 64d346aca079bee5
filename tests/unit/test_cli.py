"""The ``quantgate`` command lists the tools and runs each one's own main."""

import pytest

from quantgate.cli import COMMANDS, main


def test_help_lists_every_tool(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS) and "merge CI shards' reports" in out


def test_a_command_runs_its_tool_with_the_rest_of_the_arguments(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["merge", "--help"])
    assert exit_.value.code == 0 and "--out" in capsys.readouterr().out


def test_an_unknown_command_is_named(capsys):
    assert main(["mrege"]) == 2
    assert "unknown command 'mrege'" in capsys.readouterr().err
