"""``docs/cli.md`` says what ``beacon-channels-deploy`` has and does: every subcommand and
option of its argument parser is in the page's table (and nothing else is), and its exit
codes are the program's, as its epilog says them, as it exits.

Like tests/test_docs.py, this reads the page as a reader does: a subcommand and option added
to the parser fails here until the table has its row.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import pytest

from tango_channels_deploy import cli
from tango_channels_deploy.cli import CHANGES_PENDING, EXIT_CODES, USAGE, argument_parser, main
from tango_channels_deploy.database import Plan

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
EVERY = "every command, and none"  # the row of the options every parser has


def section(title: str) -> str:
    text = PAGE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def table_rows(title: str) -> list[list[str]]:
    """The cells of the first table of a section, header and rule left out."""
    lines = [line for line in section(title).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def documented() -> dict[str, set[str]]:
    """Subcommand (or ``EVERY``) -> the options its rows name. A row with an empty command
    cell continues the subcommand above it."""
    found: dict[str, set[str]] = {}
    command = ""
    for cells in table_rows("Subcommands and options"):
        if cells[0]:
            command = cells[0] if cells[0] == EVERY else cells[0].strip("`").split()[0]
            found.setdefault(command, set())
        found[command] |= set(re.findall(r"`(-[-\w]+)", cells[1]))
    return found


def parsers() -> dict[str, argparse.ArgumentParser]:
    parser = argument_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **commands.choices}


def options(parser: argparse.ArgumentParser) -> tuple[set[str], set[str]]:
    """The parser's own options, and its help options."""
    own: set[str] = set()
    helps: set[str] = set()
    for action in parser._actions:
        (helps if isinstance(action, argparse._HelpAction) else own).update(action.option_strings)
    return own, helps


def test_every_subcommand_and_option_of_the_parser_is_in_the_table():
    table = documented()
    for name, parser in parsers().items():
        own, helps = options(parser)
        assert helps <= table[EVERY], name
        if name:
            assert name in table, f"no row for {name}"
            assert own <= table[name], f"{name}: {sorted(own - table[name])} not in the table"
        else:
            assert not own, "options of the program itself need a row"


def test_the_table_names_nothing_the_parser_lacks():
    table = documented()
    known = parsers()
    assert set(table) - {EVERY} == set(known) - {""}
    for name, shown in table.items():
        if name != EVERY:
            assert shown <= options(known[name])[0], name


def test_the_exit_codes_of_the_page_are_the_program_s_and_its_epilog_s():
    rows = table_rows("Exit codes")
    assert [int(cells[0]) for cells in rows] == sorted(EXIT_CODES)
    epilog = argument_parser().epilog or ""
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in epilog
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 4  # one meaning each


@pytest.mark.parametrize(
    "argv",
    [
        ["apply"],
        ["apply", "f.json", "--dryrun"],
        ["frobnicate"],
        ["discover", "h:1", "--dsconfig", "f"],
    ],
    ids=["missing argument", "unknown option", "unknown command", "file without beamline"],
)
def test_a_wrong_command_line_exits_with_the_usage_code(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == USAGE
    assert capsys.readouterr().err.startswith("usage: beacon-channels-deploy")


def test_changes_found_by_a_dry_run_exit_with_their_own_code(tmp_path, monkeypatch, caplog):
    """Apart from the usage code. (tests/test_facility.py does it on real databases.)"""
    path = tmp_path / "beacon.json"
    path.write_text(
        '{"servers": {"BeaconChannels": {"id00": {"BeaconChannels": {"id00/beacon/1": {}}}}}}'
    )
    planned: list[bool] = []

    def plan(db, document, write):
        planned.append(write)
        return Plan({}, [("put_device_property", ("id00/beacon/1", {"Channels": ["a.b"]}), {})])

    monkeypatch.setattr(cli, "_database", lambda: None)
    monkeypatch.setattr(cli.database, "apply", plan)
    monkeypatch.setattr(cli, "show_actions", lambda original, calls: None)
    with caplog.at_level(logging.INFO, logger="beacon-channels-deploy"):
        assert main(["apply", str(path), "--dry-run"]) == CHANGES_PENDING != USAGE
    assert planned == [False]
    assert "dry run: nothing written" in caplog.text
