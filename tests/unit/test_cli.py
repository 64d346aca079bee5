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


def test_the_installed_command_is_this_main():
    """pyproject.toml's [project.scripts] entry, as the installed package declares it."""
    import importlib.metadata
    from pathlib import Path

    import tomllib

    declared = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["scripts"]
    assert declared == {"quantgate": "quantgate.cli:main"}
    (script,) = [ep for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == "quantgate"]
    assert script.load() is main
