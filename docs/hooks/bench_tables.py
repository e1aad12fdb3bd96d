"""MkDocs hook: the benches' figures in the pages, from the files the benches wrote.

A line ``<!-- bench: device_bench -->`` in a page becomes, at ``mkdocs build``, the tables of
``bench/results/device_bench.json`` (written by ``bench/device_bench.py``; see
``bench/report.py``) with the date, machine, commit and command of that run; or, while the
repository holds no such file, a note saying so and the command that measures it. A figure on
a page is thus what a bench printed, never typed. A marker naming no bench fails the strict
build.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.bench_tables")  # warnings fail mkdocs --strict

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
MARKER = re.compile(r"^<!-- bench: (?P<bench>\S+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    return MARKER.sub(lambda match: tables(match["bench"], page.file.src_uri), markdown)


def on_serve(server: Any, **kwargs: Any) -> Any:
    server.watch(str(RESULTS))  # mkdocs serve: a bench run shows at once
    return server


def tables(bench: str, page: str) -> str:
    if not (BENCH / f"{bench}.py").is_file():
        log.warning("%s: <!-- bench: %s --> names no bench/%s.py", page, bench, bench)
        return ""
    path = RESULTS / f"{bench}.json"
    if not path.is_file():
        return (
            '!!! note "Not measured yet"\n'
            f"    Not measured yet in this layout: run `.venv/bin/python bench/{bench}.py`\n"
            f"    (it writes `bench/results/{bench}.json`, from which this page is made).\n"
        )
    record = json.loads(path.read_text())
    parts = [provenance(record)]
    sections: dict[str, list[dict[str, Any]]] = {}
    for figure in record["figures"]:
        sections.setdefault(figure["section"], []).append(figure)
    for section, figures in sections.items():
        parts.append(table(section, figures))
    return "\n\n".join(parts) + "\n"


def provenance(record: dict[str, Any]) -> str:
    date = datetime.datetime.fromisoformat(record["date"])
    machine = record["machine"]
    git = record["git"]
    commit = f"commit `{git['commit'][:7]}`" if git.get("commit") else "an unknown commit"
    if git.get("dirty"):
        commit += " with uncommitted changes"
    versions = ", ".join(
        f"{label} {machine[key]}"
        for key, label in (("python", "Python"), ("pytango", "PyTango"), ("redis_server", "Redis"))
        if machine.get(key)
    )
    return (
        f"`{record['command']}`, {date:%Y-%m-%d %H:%M} UTC, {commit}, on "
        f"`{machine['hostname']}` ({machine['cpu_count']} cores; {versions}):"
    )


def table(section: str, figures: list[dict[str, Any]]) -> str:
    has_floor = any("floor" in f for f in figures)
    has_target = any("target_max" in f or "target_min" in f for f in figures)
    header = [section, "value"] + ["floor"] * has_floor + ["target"] * has_target
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for figure in figures:
        unit = figure.get("unit", "")
        cells = [figure["name"], quantity(figure["value"], unit)]
        if has_floor:
            cells.append(quantity(figure["floor"], unit) if "floor" in figure else "")
        if has_target:
            cells.append(target(figure))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def quantity(value: Any, unit: str) -> str:
    shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    if not unit:
        return shown
    return f"{shown}{unit}" if unit in ("%", "x") else f"{shown} {unit}"


def target(figure: dict[str, Any]) -> str:
    unit, value = figure.get("unit", ""), figure["value"]
    if "target_max" in figure:
        bound, met = figure["target_max"], value <= figure["target_max"]
        text = f"≤ {quantity(bound, unit)}"
    elif "target_min" in figure:
        bound, met = figure["target_min"], value >= figure["target_min"]
        text = f"≥ {quantity(bound, unit)}"
    else:
        return ""
    return f"{text}: {'met' if met else '**missed**'}"
