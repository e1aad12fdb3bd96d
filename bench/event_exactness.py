"""Events posted at once on a new EventChannel: does every listener get each once, in order?

    .venv/bin/python bench/event_exactness.py [--runs 50]

BLISS's own use (issue 18): a process already connected (it holds a channel) creates
``EventChannel("t_event")`` and at once posts ``"a"``, ``2``, ``[3]``, then ``"end"``; a second
process listening on the channel collects the events. Each run starts fresh processes (the
peers of ``tests/support/peer.py``) on a private redis-server, for every pairing of poster and
listener: our library with threads, our library gevent-patched (as a BLISS session), and real
BLISS 2.4 (its peer venv, built as the tests build it). Prints, per pairing, the runs whose
listener got exactly ``["a", 2, [3], "end"]``, and the other outcomes seen.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from report import Report, add_json_option  # noqa: E402

from support.peers import Peer, bliss_venv  # noqa: E402
from support.redis_server import wait_subscribers  # noqa: E402
from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

EXPECTED = ["a", 2, [3], "end"]
PAIRINGS = [
    ("threads", "threads"),
    ("gevent", "gevent"),
    ("threads", "bliss"),
    ("gevent", "bliss"),
    ("bliss", "threads"),
    ("bliss", "gevent"),
]


def peer(kind: str, url: str) -> Peer:
    if kind == "bliss":
        return Peer(str(bliss_venv()), url, impl="bliss")
    return Peer(sys.executable, url, gevent=kind == "gevent")


def one_run(url: str, poster_kind: str, listener_kind: str, run: int) -> list[object]:
    """What the listener received in one run."""
    name = f"t_event.{poster_kind}.{listener_kind}.{run}"
    poster, listener = peer(poster_kind, url), peer(listener_kind, url)
    try:
        poster.call("open", name=f"{name}.held", value=1)
        listener.call("open", name=name, event=True)
        listener.call("watch", name=name)
        wait_subscribers(url, name)
        poster.call("post_new", name=name, values=["a", 2, [3]])
        poster.call("post", name=name, value="end")
        received: list[object] = []
        while "end" not in received:
            received += listener.wait_event(lambda e: e["name"] == name)["value"]
        # Anything sent twice after "end" shows up here.
        poster.call("sleep", seconds=0.2)
        while not listener.events.empty():
            received += listener.events.get()["value"]
        return received
    finally:
        poster.close()
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    add_json_option(parser, "event_exactness")
    options = parser.parse_args()
    report = Report("event_exactness")
    redis = LocalRedis()
    try:
        for poster_kind, listener_kind in PAIRINGS:
            outcomes: collections.Counter[str] = collections.Counter()
            for run in range(options.runs):
                outcomes[json.dumps(one_run(redis.url, poster_kind, listener_kind, run))] += 1
            exact = outcomes.pop(json.dumps(EXPECTED), 0)
            label = f"{poster_kind} -> {listener_kind}"
            section = f"{options.runs} runs, {label}"
            report.figure(section, "each event once, in order", exact, "runs",
                          target_min=options.runs)
            for seen, times in outcomes.items():
                report.figure(section, f"received {seen}", times, "runs", target_max=0)
            others = ", ".join(f"{o} x{n}" for o, n in outcomes.items()) or "none"
            print(f"{label:20s} {exact}/{options.runs} exactly once, in order; other: {others}")
    finally:
        redis.stop()
    report.write(options.json)


if __name__ == "__main__":
    main()
