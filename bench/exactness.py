"""A BLISS session at 200 Hz to a Tango client, 20 runs in a row: lost, duplicated, errors.

    .venv/bin/python bench/exactness.py [--runs 20] [--count 2000] [--rate 200]

Each run is ``tests/test_exactness.py``'s (``tests/support/exactness.py``): a real BLISS 2.4
process sets one channel at ``--rate`` Hz (and a second one too), a BeaconChannels device
exposes them, a Tango client listens to the first, another client reads attributes, and
``--busy`` CPU-busy processes take a core each (one by default: a machine shared with other
work; the device must not drop values it can show). Prints, per run, the values BLISS
published (heard on Redis), and those the client lost, got twice or out of order, its error
events, and the values the device coalesced.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from report import Report, add_json_option  # noqa: E402

from support.exactness import one_run  # noqa: E402
from support.peers import bliss_venv  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--busy", type=int, default=1, help="busy processes, a core each")
    add_json_option(parser, "exactness")
    options = parser.parse_args()
    report = Report("exactness")
    workdir = Path(tempfile.mkdtemp(prefix="exactness-"))
    server = RedisServer(workdir / "redis").start()
    python = str(bliss_venv())
    totals = {
        "published": 0,
        "lost": 0,
        "duplicated": 0,
        "out of order": 0,
        "error events": 0,
        "coalesced": 0,
    }
    try:
        for run in range(options.runs):
            outcome = one_run(
                server, python, workdir, f"run{run}", options.count, options.rate, options.busy
            )
            disordered = int(not outcome.in_order)
            print(
                f"run {run + 1:2d}: {len(outcome.published)} published, {outcome.lost} lost, "
                f"{outcome.duplicated} duplicated, {'out of order' if disordered else 'in order'}"
                f", {len(outcome.errors)} error events, {outcome.coalesced} coalesced",
                flush=True,
            )
            for error in outcome.errors[:3]:
                print(f"        {error}")
            totals["published"] += len(outcome.published)
            totals["lost"] += outcome.lost
            totals["duplicated"] += outcome.duplicated
            totals["out of order"] += disordered
            totals["error events"] += len(outcome.errors)
            totals["coalesced"] += outcome.coalesced
    finally:
        server.kill()
    section = (
        f"{options.runs} runs, {options.count} values at {options.rate:g} Hz each, "
        f"{options.busy} core(s) taken by busy processes"
    )
    print(f"\n{section}: " + ", ".join(f"{v} {k}" for k, v in totals.items()))
    report.figure(section, "values published by BLISS", totals["published"])
    for name in ("lost", "duplicated", "out of order", "error events", "coalesced"):
        report.figure(section, name, totals[name], target_max=0)
    report.write(options.json)


if __name__ == "__main__":
    main()
