"""Records the change events of attributes of one device; answers questions on stdin.

    .venv/bin/python bench/event_client.py [--alarm] ACCESS ATTRIBUTE...

Prints READY once subscribed (to change events; with ``--alarm``, to Tango 10's alarm
events, as an alarm handler). Then each stdin line is answered with one JSON line:
``last`` -> {attribute: last value}; ``report`` -> counts per attribute, latencies (event
time - the value's source timestamp, s), errors; ``timeline`` -> per second of the clock
(``int(time.time())``), the events received and their largest latency (s), for plots;
``stamps`` -> [event's source timestamp, time received] of each event, in order (for
``bench/device_stages.py``); ``reset`` clears what was recorded.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import tango

ALARM = sys.argv[1] == "--alarm"
args = sys.argv[2:] if ALARM else sys.argv[1:]
access, attributes = args[0], args[1:]
KIND = tango.EventType.ALARM_EVENT if ALARM else tango.EventType.CHANGE_EVENT
lock = threading.Lock()
counts = dict.fromkeys(attributes, 0)
last: dict[str, float | None] = dict.fromkeys(attributes)
latencies: list[float] = []
errors = [0]
reasons: set[str] = set()
timeline: dict[int, list[float]] = {}  # second -> [events, largest latency]
stamps: list[tuple[float, float]] = []  # (source timestamp, received)


def on_event(event: tango.EventData) -> None:
    received = time.time()
    name = event.attr_name.split("#", 1)[0].rsplit("/", 1)[-1]  # ...#dbase=no without a DB
    with lock:
        if event.err:
            errors[0] += 1
            reasons.add(f"{event.errors[0].reason}: {event.errors[0].desc}"[:160])
            return
        value = event.attr_value
        key = next((a for a in attributes if a.lower() == name.lower()), name)
        counts[key] = counts.get(key, 0) + 1
        last[key] = value.value
        latency = received - value.time.totime()
        latencies.append(latency)
        stamps.append((value.time.totime(), received))
        second = timeline.setdefault(int(received), [0, 0.0])
        second[0] += 1
        second[1] = max(second[1], latency)


proxy = tango.DeviceProxy(access)
for attribute in attributes:
    proxy.subscribe_event(attribute, KIND, on_event)
with lock:  # the subscriptions' own first events are not part of a measure
    latencies.clear()
    counts.update(dict.fromkeys(attributes, 0))
    errors[0] = 0
    reasons.clear()
    timeline.clear()
    stamps.clear()
print("READY", flush=True)
for line in sys.stdin:
    command = line.strip()
    with lock:
        if command == "last":
            answer: object = last
        elif command == "report":
            answer = {
                "counts": counts,
                "latencies": latencies,
                "errors": errors[0],
                "reasons": sorted(reasons),
            }
        elif command == "timeline":
            answer = timeline
        elif command == "stamps":
            answer = stamps
        elif command == "reset":
            latencies.clear()
            counts.update(dict.fromkeys(attributes, 0))
            errors[0] = 0
            reasons.clear()
            timeline.clear()
            stamps.clear()
            answer = {}
        else:
            answer = {"error": f"unknown command {command!r}"}
    print(json.dumps(answer), flush=True)
