"""A bench's figures as a file: what the docs' performance and reliability pages are made of.

Each bench prints its report as before and also records each figure it prints::

    report = Report("channel_bench")
    report.figure("set -> callback", "tango_channels, median", 0.26, "ms", floor=0.24)
    report.figure("1,000 channels", "no holder", 156, "ms", target_max=200)
    report.write(options.json)

into ``bench/results/<bench>.json`` (``--json PATH`` elsewhere), with the date, the machine
(hostname, cores, Python, PyTango and redis-server versions), the git commit measured (and
whether the tree differed from it) and the command line. ``docs/hooks/bench_tables.py`` turns
the file into a table at ``mkdocs build``: a figure in the docs is what a bench printed.

A figure's ``floor`` is the same quantity measured in the same run without what is being
measured (raw redis-py under the library, a bare PyTango device under BeaconChannels);
``target_max`` / ``target_min`` the bound the bench prints as its target.

A bench also records the series its plots are drawn from (``docs/hooks/bench_plots.py``
draws ``<!-- plot: <bench> <key> -->`` at ``mkdocs build``)::

    report.series(
        "latency", "BLISS set -> Tango change event",
        x=("latency", "ms"), y=("values at or under", "%"),
        lines=[line("BeaconChannels", points), line("floor", floor_points, role="floor")],
        marks=[(7.5, "Redis killed")],
    )

``points`` are ``(x, y)`` pairs. A line's ``role`` says how it is drawn: ``subject`` (what is
measured), ``floor`` (the same without it), ``part`` (a piece of the floor) or ``reference``
(a level to compare with, such as the rate asked). ``marks`` are moments on the x axis.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

__all__ = ["RESULTS", "ROLES", "Report", "add_json_option", "line"]

ROLES = ("subject", "floor", "part", "reference")


def add_json_option(parser: argparse.ArgumentParser, bench: str) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS / f"{bench}.json",
        metavar="PATH",
        help=f"where to write the figures (default: bench/results/{bench}.json)",
    )


class Report:
    """The figures of one run of one bench, in the order printed."""

    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.started = datetime.datetime.now(datetime.UTC)
        self.figures: list[dict[str, Any]] = []
        self.plots: dict[str, dict[str, Any]] = {}

    def figure(
        self,
        section: str,
        name: str,
        value: float | int | str,
        unit: str = "",
        *,
        floor: float | None = None,
        target_max: float | None = None,
        target_min: float | None = None,
    ) -> None:
        figure: dict[str, Any] = {"section": section, "name": name, "value": value, "unit": unit}
        if floor is not None:
            figure["floor"] = floor
        if target_max is not None:
            figure["target_max"] = target_max
        if target_min is not None:
            figure["target_min"] = target_min
        self.figures.append(figure)

    def series(
        self,
        key: str,
        title: str,
        *,
        x: tuple[str, str],
        y: tuple[str, str],
        lines: list[dict[str, Any]],
        marks: Sequence[tuple[float, str]] = (),
    ) -> None:
        """The series of one plot (see the module docstring): ``x`` and ``y`` are each a
        label and a unit."""
        self.plots[key] = {
            "title": title,
            "x": {"label": x[0], "unit": x[1]},
            "y": {"label": y[0], "unit": y[1]},
            "lines": lines,
            "marks": [{"x": _round(at), "label": label} for at, label in marks],
        }

    def write(self, path: Path) -> None:
        record = {
            "bench": self.bench,
            "command": shlex.join([".venv/bin/python", f"bench/{self.bench}.py", *sys.argv[1:]]),
            "date": self.started.isoformat(timespec="seconds"),
            "machine": machine(),
            "git": git_state(),
            "figures": self.figures,
        }
        if self.plots:
            record["series"] = self.plots
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"\nfigures written to {_shown(path)}")


def line(
    name: str, points: list[tuple[float, float]], role: str = "subject"
) -> dict[str, Any]:
    """One line of a plot's series: its name, its ``(x, y)`` points, rounded to what a plot
    can show, and how it is drawn (:data:`ROLES`)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is none of {', '.join(ROLES)}")
    return {"name": name, "role": role, "points": [[_round(x), _round(y)] for x, y in points]}


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def machine() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pytango": _version("pytango"),
        "redis_server": _redis_server_version(),
    }


def git_state() -> dict[str, Any]:
    """The commit measured; ``dirty`` if tracked files differ from it (results aside)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changed)}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _redis_server_version() -> str | None:
    executable = shutil.which("redis-server")
    if executable is None:
        return None
    out = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    found = [word[2:] for word in out.split() if word.startswith("v=")]
    return found[0] if found else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
