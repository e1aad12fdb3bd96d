"""A BeaconChannels server whose values are stamped at each stage, for bench/device_stages.py.

    python bench/stages_server.py STAMPS_FILE COUNT <BeaconChannels arguments>

Wraps (in this process only: the product code is unchanged) the points a value passes: the
reader's batch (``Bus._handle_batch``: Redis -> reader), the delivery to its feed, decoded
(``Feed.arrived``), the publisher taking it (``Publisher._show_items``), and the change event's
push (``TangoAttributes.push``, before and after ``push_change_event``). Each stamp is
``time.time()``, keyed by the value's source timestamp (when BLISS set it). Once COUNT values
were pushed, the stamps go to STAMPS_FILE as JSON: {source timestamp: {stage: time}}.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from tango_channels import bus as bus_module
from tango_channels.wire.messages import ValueMessage
from tango_channels_device import tango_attributes
from tango_channels_device.bridge import feed as feed_module
from tango_channels_device.bridge import publisher as publisher_module
from tango_channels_device.bridge.attribute import EventKind

OUT, COUNT = Path(sys.argv[1]), int(sys.argv[2])
STAMPS: dict[float, dict[str, float]] = {}
_batch = threading.local()
_pushed = [0]
_lock = threading.Lock()


def stamp(source: float, stage: str) -> None:
    STAMPS.setdefault(source, {})[stage] = time.time()


def wrap(cls: type, name: str, before) -> None:
    original = getattr(cls, name)

    def wrapped(self, *args, **kwargs):
        before(self, *args)
        return original(self, *args, **kwargs)

    setattr(cls, name, wrapped)


def batch(_bus, _replies) -> None:
    _batch.at = time.time()


def arrived(_feed, message: ValueMessage) -> None:
    record = STAMPS.setdefault(message.timestamp, {})
    record["reader"] = getattr(_batch, "at", time.time())
    record["decoded"] = time.time()


def taken(_publisher, _record, items, *_rest) -> None:
    for item in items:
        if type(item) is ValueMessage:
            stamp(item.timestamp, "taken")


original_push = tango_attributes.TangoAttributes.push


def push(self, record, kind, sample):
    if kind is not EventKind.CHANGE:
        return original_push(self, record, kind, sample)
    stamp(sample.timestamp, "push")
    done = original_push(self, record, kind, sample)
    stamp(sample.timestamp, "pushed")
    with _lock:
        _pushed[0] += 1
        if _pushed[0] == COUNT:
            OUT.write_text(json.dumps({str(k): v for k, v in STAMPS.items()}))
    return done


wrap(bus_module.Bus, "_handle_batch", batch)
wrap(feed_module.Feed, "arrived", arrived)
wrap(publisher_module.Publisher, "_show_items", taken)
tango_attributes.TangoAttributes.push = push

from tango_channels_device.beacon_channels import main  # noqa: E402

main(sys.argv[3:])
