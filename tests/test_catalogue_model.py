"""Every sequence of operator commands leaves the device showing what its lines say.

A model-based test (hypothesis stateful, as ``test_protocol_model.py`` is for the protocol):
random sequences of ``AddChannel`` and ``RemoveChannel`` with names, globs and ``Axes`` lines
(overlapping ones included), ``Init``, channels appearing in Redis and going away (their
holders closing), settings hashes, values and ``ClearCache`` drive one BeaconChannels
device's Tango-free half (the publisher, in this test's thread, its Tango half a fake sink,
its bus on a real Redis), and a model of what the lines mean. After each step:

- what is exposed is what the current lines match (minus the channels ``RemoveChannel`` hid);
- an attribute is retired only while no line matches its channel;
- a channel keeps its attribute name across remove/add and Init;
- two lines matching one channel make one attribute, which stays while either remains;
- no attribute shows a value of another channel.

On the code before issue 25, it finds that a glob line removed and given again exposes
nothing (its channels stay retired until the server restarts).
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from support.fake_sink import FakeSink
from support.redis_server import RedisServer
from tango_channels import Bus
from tango_channels.protocol import Standing
from tango_channels.transport.address import RedisAddress
from tango_channels.wire.encode import encode_value
from tango_channels_device.bridge.catalogue import axis_wants
from tango_channels_device.bridge.devices import ChannelsBridge
from tango_channels_device.bridge.lifecycle import Phase
from tango_channels_device.bridge.lines import AxisSpec, LineError, parse_line
from tango_channels_device.bridge.publisher import Publisher
from tango_channels_device.bridge.settings import SettingSource
from tango_channels_device.bridge.survey import Findings

CHANNELS = ["fz.c0", "fz.c1", "fz.c2", "other.x"]
AXIS = "roby"
LINES = [
    "fz.* type=float",
    "fz.* type=float unit=mm",
    "fz.*",
    "fz.c[01] type=float",
    "*.x type=float",
    "fz.c0 type=float",
    "fz.c0 type=float setting=h:fz/c0",
    "fz.c1",
    "other.x type=float",
]
PROPERTIES = ["other.x type=float"]  # the device's Channels property: what Init reads
EXAMPLES = 200


@pytest.fixture(scope="module")
def model_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("model-redis"))).start()
    yield server
    server.kill()


def test_every_sequence_of_commands_leaves_the_device_showing_what_its_lines_say(model_redis):
    url = model_redis.url

    class Operators(RuleBasedStateMachine):
        """The device and the model (see the module docstring)."""

        @initialize()
        def start(self) -> None:
            self.buses: list[Bus] = []

            def bus(address: RedisAddress, trusted: tuple[str, ...]) -> Bus:
                made = Bus(address, trusted_modules=trusted)
                made.wait_connected(5)
                self.buses.append(made)
                return made

            self.publisher = Publisher(bus, survey=False)  # its turns are this test's
            self.sink = FakeSink()
            self.device = ChannelsBridge(
                "test/model/1", self.sink, RedisAddress.from_url(url), reserved=["State"]
            )
            self.publisher.configure(self.device, PROPERTIES, [], "Init")
            self.publisher.attach(self.device)
            # The model: the lines (channel lines by pattern, in order), axis lines, what
            # each glob has seen live while it was a line, hidden channels, Redis.
            self.lines: dict[str, str] = {p: p for p in (parse_line(x).pattern for x in PROPERTIES)}
            self.axes: set[str] = set()
            self.seen: dict[str, set[str]] = {}
            self.hidden: set[str] = set()
            self.live: set[str] = set()
            self.values: dict[str, set[float]] = {c: set() for c in CHANNELS}
            self.hash: dict[str, float] = {}
            self.names: dict[str, str] = {}  # key -> the name it got, for ever
            self.counter = itertools.count(1)
            self.turn()

        def teardown(self) -> None:
            if hasattr(self, "publisher"):
                self.publisher.stop()

        # -------------------------------------------------------------- the device's side
        def turn(self) -> None:
            self.publisher.turn()

        def feed(self, channel: str):
            return self.publisher.link_of(self.device).feeds.get(channel)

        # -------------------------------------------------------------- commands
        @rule(line=st.sampled_from(LINES))
        def add_channel(self, line: str) -> None:
            spec = parse_line(line)
            assert spec is not None
            live = sorted(self.live)
            try:
                self.publisher.add(self.device, line, live)
            except LineError:
                assert spec.pattern in self.lines
                return
            assert spec.pattern not in self.lines
            self.lines[spec.pattern] = line
            if spec.is_glob:
                self.seen[spec.pattern] = {c for c in self.live if _matches(spec.pattern, c)}
            self.hidden = {c for c in self.hidden if not _matches(spec.pattern, c)}
            self.turn()

        @rule()
        def add_axis(self) -> None:
            try:
                self.device.catalogue.add_axis(AXIS)
            except LineError:
                assert AXIS in self.axes
                return
            self.axes.add(AXIS)
            self.publisher.reconcile(self.device, "")
            self.turn()

        @rule(name=st.sampled_from([*{parse_line(x).pattern for x in LINES}, *CHANNELS, AXIS]))
        def remove_channel(self, name: str) -> None:
            try:
                self.publisher.remove(self.device, name, "RemoveChannel")
            except KeyError:
                assert name not in self.lines and name not in self.axes
                assert name not in self.exposed()
                return
            if name in self.lines:
                del self.lines[name]
                self.seen.pop(name, None)
            elif name in self.axes:
                self.axes.discard(name)
            else:
                assert name in self.exposed()
                self.hidden.add(name)
            self.turn()

        @rule()
        def init(self) -> None:
            self.publisher.configure(self.device, PROPERTIES, [], "Init")
            self.lines = {parse_line(x).pattern: x for x in PROPERTIES}
            self.axes.clear()
            self.hidden.clear()
            self.turn()

        # -------------------------------------------------------------- BLISS and Redis
        @rule(channel=st.sampled_from(CHANNELS))
        def holder_appears(self, channel: str) -> None:
            self.live.add(channel)

        @rule(channel=st.sampled_from(CHANNELS))
        def holder_closes(self, channel: str) -> None:
            self.live.discard(channel)
            feed = self.feed(channel)
            if feed is not None:
                last = max(self.values[channel], default=None)
                held = encode_value("4242", 1.0, last) if last is not None else None
                feed.standing_changed(Standing(held, False, 2.0, True, ""))
            self.turn()

        @rule(channel=st.sampled_from(CHANNELS))
        def value(self, channel: str) -> None:
            """A holder sets a value: ``<channel's index>.<count>``, so that a value says
            whose it is."""
            number = CHANNELS.index(channel) + next(self.counter) / 10_000
            self.values[channel].add(number)
            feed = self.feed(channel)
            if feed is not None:
                feed.arrived(encode_value("4242", 1000.0 + number, number))
            self.turn()

        @rule()
        def clear_cache(self) -> None:
            """``ClearCache([])``: every exposed obj:key channel gets its default: none of
            these channels is one (no ':'), so nothing changes."""
            assert not [r for r in self.device.records.values() if ":" in r.channel]

        @rule(setting=st.floats(-1e3, 1e3, allow_nan=False))
        def survey(self, setting: float) -> None:
            """The survey looks: the globs' live matches, and the settings hash."""
            self.hash["c0"] = setting
            link = self.publisher.link_of(self.device)
            globs = [p for p in self.lines if _is_glob(p)]
            findings = Findings(
                channels={g: sorted(c for c in self.live if _matches(g, c)) for g in globs},
                settings={SettingSource("h:fz", "c0"): repr(setting).encode()},
            )
            for glob in globs:
                self.seen[glob] |= set(findings.channels[glob])
            self.publisher.found(link, findings)
            self.turn()
            self.turn()  # what the findings handed (settings shown again)

        # -------------------------------------------------------------- the model's view
        def exposed(self) -> set[str]:
            """The channels the lines match (minus those RemoveChannel hid)."""
            matched = {p for p in self.lines if not _is_glob(p)}
            for glob in self.lines:
                if _is_glob(glob):
                    matched |= self.seen.get(glob, set())
            if self.axes:
                matched |= {w.channel for w in axis_wants(AXIS, AxisSpec(AXIS, AXIS))}
            return matched - self.hidden

        # -------------------------------------------------------------- invariants
        @invariant()
        def what_is_exposed_is_what_the_lines_match(self) -> None:
            if not hasattr(self, "device"):
                return
            followed = {
                r.channel
                for r in self.device.records.values()
                if r.phase in (Phase.UNTYPED, Phase.PENDING, Phase.SHOWN)
            }
            assert followed == self.exposed()

        @invariant()
        def retired_only_while_no_line_matches(self) -> None:
            if not hasattr(self, "device"):
                return
            exposed = self.exposed()
            for record in self.device.records.values():
                if record.phase is Phase.RETIRED:
                    assert record.channel not in exposed, record
                assert record.phase is not Phase.REFUSED, record.why

        @invariant()
        def a_channel_keeps_its_attribute_name(self) -> None:
            if not hasattr(self, "device"):
                return
            keys = set()
            for record in self.device.records.values():
                assert record.key not in keys  # one attribute per channel (and view)
                keys.add(record.key)
                if record.name is not None:
                    assert self.names.setdefault(record.key, record.name) == record.name
                    assert self.device.by_name[record.name.lower()] is record

        @invariant()
        def no_attribute_shows_another_channel_s_value(self) -> None:
            if not hasattr(self, "device"):
                return
            for record in self.device.records.values():
                shown = record.shown
                if record.phase is not Phase.SHOWN or shown is None or shown.error:
                    continue
                if shown.value is None or not isinstance(shown.value, float):
                    continue
                own = self.values.get(record.channel, set())
                from_hash = record.spec.setting is not None and shown.value in self.hash.values()
                assert shown.value in own or from_hash, (record, shown.value)

    Operators.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    Operators.TestCase().runTest()


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _matches(pattern: str, channel: str) -> bool:
    return pattern == channel or fnmatch.fnmatchcase(channel, pattern)
