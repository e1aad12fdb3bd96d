"""What the README and the docs site show works as shown.

``mkdocs build --strict`` (in ./run-tests.sh) checks the links, the pages and the docstring
references. Here, what a reader copies:

- every command of this project in a ``sh`` block is accepted by the program's own argument
  parser (``beacon-channels-deploy``'s parser; ``--help`` of the benches, the quick start,
  mkdocs and json2tango lists every option used); the scripts named exist and are executable;
  every other program must be one this test knows to be outside the project, so that a new
  kind of command shown is a decision. Commands that need a Tango database, a beamline's
  Beacon or root (``apply``, ``starter``, ``systemctl``) are checked this way, not run; the
  quick start's own printed commands are run by tests/test_quickstart.py;
- every deployment file shown (``json`` blocks) passes the checks ``beacon-channels-deploy``
  makes before writing;
- every ``Channels`` and ``Axes`` example (blocks titled so) parses with the device's parser;
- every bench named exists;
- the MkDocs hooks: bench figures come from the results files, a Sphinx reference that names
  nothing fails the build, and the root files' links work where a page includes them.
"""

from __future__ import annotations

import ast
import functools
import json
import logging
import re
import shlex
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tango_channels_deploy.cli import argument_parser
from tango_channels_deploy.config import ConfigError, parse
from tango_channels_deploy.validate import problems
from tango_channels_device.bridge.lines import parse_axis_lines, parse_lines

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
BIN = Path(sys.executable).parent
# A fenced block, at the start of a line or indented in a list item.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
HOOKS = REPO / "docs" / "hooks"

# Programs a page may show that are not this project's: not checked here. (The commands of
# docs/access-control.md are run as printed by tests/test_access_control.py; Taurus's GUI
# commands need the gui extra and a display, and tests/test_quickstart_gui.py runs them.)
OUTSIDE = {"export", "python3", "pip", "printf", "systemctl", "journalctl", "echo"}
OUTSIDE |= {"apt-get", "tango_admin", "TangoAccessControl", "mysql", "python"}
OUTSIDE |= {"taurus", "redis-cli"}

# What the pages describe ahead of the code (issue 24's final layout), each with why: a command
# or file using it is skipped, saying so, while the code doesn't know it yet, and checked as
# any other once it does.
PENDING_SUBCOMMANDS = {"discover": "beacon-channels-deploy discover is being written"}
PENDING_CLASSES = {"BeaconAxis": "beacon-channels-deploy doesn't deploy BeaconAxis devices yet"}

# Where the device's code raises or pushes errors, and the page that must list each reason.
DEVICE_CODE = REPO / "device_classes"
ERROR_PAGE = REPO / "docs" / "errors.md"


@dataclass
class Block:
    page: Path
    info: str
    body: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def title(self) -> str | None:
        found = re.search(r'title="([^"]*)"', self.info)
        return found[1] if found else None


def blocks(language: str) -> list[Block]:
    found = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text()):
            body = textwrap.dedent(match["body"])
            block = Block(page.relative_to(REPO), match["info"].strip(), body)
            if block.language == language:
                found.append(block)
    return found


def commands(body: str) -> list[list[str]]:
    """The simple commands of a shell block: continuation lines joined, comments dropped,
    split at ``&&``, ``;`` and pipes, redirections and variable assignments left out."""
    found = []
    text = body.replace("\\\n", " ").replace("$(hostname -s)", "host1")
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|>")
        lexer.whitespace_split = True
        words: list[str] = []
        tokens = list(lexer)
        skip = False
        for token in [*tokens, ";"]:
            if skip:
                skip = False
            elif token == ">":
                skip = True
            elif token in (";", "&&", "||", "|"):
                while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                    words.pop(0)
                if words:
                    found.append(words)
                words = []
            else:
                words.append(token)
    return found


SHOWN = [
    pytest.param(argv, id=f"{block.page}: {shlex.join(argv)}"[:120])
    for block in blocks("sh")
    for argv in commands(block.body)
]


def _subcommands() -> set[str]:
    """The subcommands ``beacon-channels-deploy`` has, as its usage line lists them."""
    found = re.search(r"\{([^}]*)\}", argument_parser().format_usage())
    assert found, "beacon-channels-deploy's usage lists no subcommands"
    return set(found[1].split(","))


def _help(argv: list[str]) -> str:
    return _help_of(tuple(argv))


@functools.cache
def _help_of(argv: tuple[str, ...]) -> str:
    """A program's ``--help`` (once: a bench's imports PyTango)."""
    done = subprocess.run([*argv, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _options_in(used: list[str], help_text: str) -> None:
    for option in (word.split("=")[0] for word in used if word.startswith("-")):
        assert re.search(rf"(^|[\s\[,]){re.escape(option)}\b", help_text), option


@pytest.mark.parametrize("argv", SHOWN)
def test_every_command_shown_is_accepted_by_its_program(argv):
    program, args = argv[0], argv[1:]
    name = Path(program).name
    if name == "beacon-channels-deploy":
        assert (BIN / name).exists()
        pending = args[0] if args and args[0] in PENDING_SUBCOMMANDS else None
        if pending and pending not in _subcommands():
            pytest.skip(PENDING_SUBCOMMANDS[pending])
        try:
            argument_parser().parse_args(args)
        except SystemExit as exc:
            pytest.fail(f"beacon-channels-deploy refuses {args}: exit {exc.code}")
    elif name == "BeaconChannels":
        (script,) = entry_points(group="console_scripts", name="BeaconChannels")
        assert callable(script.load()) and (BIN / name).exists()
    elif program == ".venv/bin/python" and args and args[0].startswith("bench/"):
        assert (REPO / args[0]).is_file(), args[0]
        _options_in(args[1:], _help([sys.executable, args[0]]))
    elif program == "./quickstart.sh":
        _options_in(args, _help([sys.executable, "-m", "tango_channels_deploy.quickstart"]))
    elif program.startswith(("./", "deploy/", "docs/")):
        assert (REPO / program).is_file() and (REPO / program).stat().st_mode & 0o111, program
        assert not args, "options of a script are not checked: show it without, or add a check"
    elif name in ("mkdocs", "json2tango"):
        _options_in(args[1:] if name == "mkdocs" else args, _help([str(BIN / name), *args[:1]]))
    else:
        assert name in OUTSIDE, f"{program}: not a program this test knows; check it here"


@pytest.mark.parametrize(
    "block", blocks("json"), ids=lambda b: f"{b.page}:{b.body.splitlines()[0][:40]}"
)
def test_every_deployment_file_shown_passes_the_checks_before_writing(block):
    document = json.loads(block.body)
    try:
        checked = parse(document)
    except ConfigError as exc:
        pending = [c for c in PENDING_CLASSES if f"class {c!r}" in str(exc)]
        if pending:
            pytest.skip(PENDING_CLASSES[pending[0]])
        raise
    assert problems(checked) == []


@pytest.mark.parametrize(
    "block",
    [b for b in blocks("text") if b.title in ("Channels", "Axes")],
    ids=lambda b: f"{b.page}:{b.title}",
)
def test_every_channels_and_axes_example_is_a_valid_line(block):
    lines = block.body.splitlines()
    _, errors = (parse_lines if block.title == "Channels" else parse_axis_lines)(lines)
    assert errors == []


def bench_commands() -> list[str]:
    """The bench commands the site shows outside ``sh`` blocks: in the text, in the results
    files (each table says the command that made it), and for a bench not measured yet."""
    shown = {
        m
        for page in PAGES
        for m in re.findall(r"`(\.venv/bin/python bench/[^`]+)`", page.read_text())
    }
    for marker in {
        m for page in PAGES for m in re.findall(r"<!-- bench: (\S+) -->", page.read_text())
    }:
        results = REPO / "bench" / "results" / f"{marker}.json"
        if results.is_file():
            shown.add(json.loads(results.read_text())["command"])
        else:
            shown.add(f".venv/bin/python bench/{marker}.py")
    return sorted(shown)


@pytest.mark.parametrize("command", bench_commands())
def test_every_bench_command_on_a_page_is_accepted_by_the_bench(command):
    program, script, *args = shlex.split(command)
    assert program == ".venv/bin/python" and (REPO / script).is_file(), command
    _options_in(args, _help([sys.executable, script]))


def test_every_bench_named_exists():
    named = {m for page in PAGES for m in re.findall(r"bench/([a-z_]+)\.py", page.read_text())}
    assert named, "the docs name no bench"
    missing = sorted(n for n in named if not (REPO / "bench" / f"{n}.py").is_file())
    assert not missing


# ------------------------------------------------------------------ the MkDocs hooks
@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.syspath_prepend(str(HOOKS))
    import bench_tables
    import sphinx_xrefs

    return bench_tables, sphinx_xrefs


@pytest.fixture
def bench_plots(monkeypatch):
    monkeypatch.syspath_prepend(str(HOOKS))
    import bench_plots

    return bench_plots


def test_a_bench_table_is_what_the_results_file_says(hooks, tmp_path, monkeypatch):
    bench_tables, _ = hooks
    monkeypatch.setattr(bench_tables, "RESULTS", tmp_path)
    record = {
        "bench": "channel_bench",
        "command": ".venv/bin/python bench/channel_bench.py --count 200",
        "date": "2026-12-02T13:37:32+00:00",
        "machine": {"hostname": "vm", "cpu_count": 2, "python": "3.11.7"},
        "git": {"commit": "e72c4bd695513857f49c3d2da8f432583ea0c8f4", "dirty": False},
        "figures": [
            {"section": "latency", "name": "median", "value": 0.288, "unit": "ms", "floor": 0.2},
            {
                "section": "latency",
                "name": "overhead",
                "value": 22.8,
                "unit": "%",
                "target_max": 10,
            },
        ],
    }
    (tmp_path / "channel_bench.json").write_text(json.dumps(record))
    page = bench_tables.tables("channel_bench", "performance.md")
    assert "`.venv/bin/python bench/channel_bench.py --count 200`" in page
    assert "2026-12-02 13:37 UTC, commit `e72c4bd`" in page
    assert "| median | 0.288 ms | 0.2 ms |  |" in page
    assert "| overhead | 22.8% |  | ≤ 10%: **missed** |" in page

    missing = bench_tables.tables("soak", "reliability.md")
    assert "Not measured yet" in missing and "`.venv/bin/python bench/soak.py`" in missing


def test_a_bench_marker_naming_no_bench_fails_the_build(hooks, caplog):
    bench_tables, _ = hooks
    with caplog.at_level(logging.WARNING):
        assert bench_tables.tables("no_such_bench", "performance.md") == ""
    assert "names no bench/no_such_bench.py" in caplog.text


def test_sphinx_references_become_links_and_a_wrong_one_fails_the_build(hooks, caplog):
    _, sphinx_xrefs = hooks
    import griffe

    loader = griffe.GriffeLoader(search_paths=[str(REPO)])
    package = loader.load("tango_channels")
    channel = package["channel.Channel"]
    convert = sphinx_xrefs.convert
    assert convert(":class:`~tango_channels.bus.Bus`", channel, loader) == (
        "[`Bus`][tango_channels.bus.Bus]"
    )
    # An inherited member is linked where mkdocstrings renders it: on the inheriting class.
    assert convert(":attr:`timeout`", channel, loader) == (
        "[`timeout`][tango_channels.channel.Channel.timeout]"
    )
    assert convert(":class:`threading.Lock`", channel, loader) == "`threading.Lock`"
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert convert(":class:`Opaqe`", channel, loader) == "`Opaqe`"
    assert ":class:`Opaqe` names nothing" in caplog.text


# A soak's series, as bench/report.py writes them (Report.series).
SOAK_SERIES = {
    "title": "200 channels x 10 Hz for 15 min; Redis killed and restarted halfway",
    "x": {"label": "time", "unit": "min"},
    "y": {"label": "events delivered", "unit": "events/min"},
    "lines": [
        {
            "name": "delivered to the client",
            "role": "subject",
            "points": [[1, 119800], [2, 120100], [7.5, 61000], [8, 119900], [15, 120000]],
        },
        {"name": "set by the holder", "role": "reference", "points": [[0, 120000], [15, 120000]]},
    ],
    "marks": [{"x": 7.5, "label": "Redis killed and restarted"}],
}
SVG = "{http://www.w3.org/2000/svg}"


def test_a_plot_is_an_svg_with_axes_and_every_series(bench_plots):
    drawn = bench_plots.svg("soak-events", SOAK_SERIES)
    assert "\n\n" not in drawn  # Markdown passes a raw HTML block through to a blank line
    root = ElementTree.fromstring(drawn)  # well-formed XML
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == SOAK_SERIES["title"]
    assert "delivered to the client (subject): 5 points" in root.find(f"{SVG}desc").text
    texts = [t.text for t in root.iter(f"{SVG}text")]
    # Axes: their labels and round ticks, from 0 to past the data.
    assert "time (min)" in texts and "events delivered (events/min)" in texts
    assert {"0", "5", "10", "15"} <= set(texts)
    assert {"0", "50,000", "150,000"} <= set(texts)
    assert any(p.get("class") == "plot-axis" for p in root.iter(f"{SVG}path"))
    # Each line, with its points and its role's class, named in the legend.
    lines = {p.find(f"{SVG}title").text: p for p in root.iter(f"{SVG}polyline")}
    assert set(lines) == {"delivered to the client", "set by the holder"}
    assert len(lines["delivered to the client"].get("points").split()) == 5
    assert "plot-subject" in lines["delivered to the client"].get("class").split()
    assert "plot-reference" in lines["set by the holder"].get("class").split()
    assert {"delivered to the client", "set by the holder", "Redis killed and restarted"} <= set(
        texts
    )
    # The outage: a line across the plot where it was.
    (mark,) = [x for x in root.iter(f"{SVG}line") if x.get("class") == "plot-mark"]
    assert mark.get("x1") == mark.get("x2")


def test_a_plot_scales_its_points_inside_the_axes(bench_plots):
    root = ElementTree.fromstring(bench_plots.svg("p", SOAK_SERIES))
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    for polyline in root.iter(f"{SVG}polyline"):
        for point in polyline.get("points").split():
            x, y = (float(v) for v in point.split(","))
            assert bench_plots.LEFT <= x <= width - bench_plots.RIGHT
            assert 0 <= y <= height - bench_plots.BOTTOM
    # The subject's first point, (1 min, 119,800), lies left of the reference's last (15 min).
    by_name = {
        p.find(f"{SVG}title").text: p.get("points").split() for p in root.iter(f"{SVG}polyline")
    }
    first = float(by_name["delivered to the client"][0].split(",")[0])
    assert first < float(by_name["set by the holder"][-1].split(",")[0])


def test_plot_ticks_are_round_and_cover_the_values(bench_plots):
    assert bench_plots.ticks([0.97, 4.1]) == [0, 1, 2, 3, 4, 5]
    assert bench_plots.ticks([94.2, 96.1]) == [0, 20, 40, 60, 80, 100]
    assert bench_plots.ticks([0.0, 0.45]) == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert bench_plots.ticks([5.0, 5.0]) == [0, 1, 2, 3, 4, 5]


def test_a_plot_marker_is_the_figure_or_says_which_bench_records_it(
    bench_plots, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(bench_plots, "RESULTS", tmp_path)
    missing = bench_plots.plot("soak", "events", "reliability.md")
    assert "No plot yet" in missing and "`.venv/bin/python bench/soak.py`" in missing
    (tmp_path / "soak.json").write_text(json.dumps({"figures": []}))  # a run before series
    older = bench_plots.plot("soak", "events", "reliability.md")
    assert "has no `events` series yet" in older and "bench/soak.py" in older
    (tmp_path / "soak.json").write_text(json.dumps({"series": {"events": SOAK_SERIES}}))
    drawn = bench_plots.plot("soak", "events", "reliability.md")
    assert drawn.startswith('<figure class="bench-plot" id="plot-soak-events">')
    assert "<figcaption>200 channels x 10 Hz" in drawn
    with caplog.at_level(logging.WARNING):
        assert bench_plots.plot("no_such_bench", "x", "reliability.md") == ""
    assert "names no bench/no_such_bench.py" in caplog.text


def test_every_plot_marker_names_a_bench_and_a_series_it_records():
    for page in PAGES:
        for bench, key in re.findall(r"<!-- plot: (\S+) (\S+) -->", page.read_text()):
            source = (REPO / "bench" / f"{bench}.py").read_text()
            assert re.search(rf'series\(\s*"{re.escape(key)}"', source), (page, bench, key)


# ------------------------------------------------------------------ the error reference
def error_reasons_in_code() -> dict[str, list[str]]:
    """Every error reason of the device: each string literal of its code that starts with
    ``BeaconChannels_`` (raised, pushed, or a named constant), and where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted(DEVICE_CODE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"BeaconChannels_[A-Za-z]+", node.value)
            ):
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                found.setdefault(node.value, []).append(where)
    return found


def test_every_error_reason_of_the_device_is_in_the_error_reference():
    reasons = error_reasons_in_code()
    assert "BeaconChannels_RedisUnreachable" in reasons  # the collection finds them
    listed = set(re.findall(r"`(BeaconChannels_[A-Za-z]+)`", ERROR_PAGE.read_text()))
    missing = {reason: where for reason, where in reasons.items() if reason not in listed}
    assert not missing, f"not in docs/errors.md: {missing}"
    stale = listed - set(reasons)
    assert not stale, f"docs/errors.md lists reasons the code no longer has: {stale}"


def test_a_new_error_reason_in_the_code_is_found(tmp_path, monkeypatch):
    (tmp_path / "bridge").mkdir()
    (tmp_path / "bridge" / "new.py").write_text(
        'REASON = "BeaconChannels_Brandnew"\n'
        'raise_failed("BeaconChannels_Other", f"{x} failed", "origin")\n'
        '"""Not BeaconChannels_Docstring: prose."""\n'
    )
    monkeypatch.setattr(sys.modules[__name__], "DEVICE_CODE", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert error_reasons_in_code() == {
        "BeaconChannels_Brandnew": ["bridge/new.py:1"],
        "BeaconChannels_Other": ["bridge/new.py:2"],
    }


def test_the_error_reference_lists_tangos_own_reasons_that_the_pages_name():
    listed = set(re.findall(r"`(API_[A-Za-z]+)`", ERROR_PAGE.read_text()))
    named = {m for page in PAGES for m in re.findall(r"\b(API_[A-Za-z]+)", page.read_text())}
    named |= {m for m in re.findall(r"\b(API_[A-Za-z]+)", _device_code_text())}
    assert named <= listed, f"not in docs/errors.md: {named - listed}"


def _device_code_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DEVICE_CODE.rglob("*.py")))
