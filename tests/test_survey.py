"""The survey on its own, against a real Redis: what the device learns by asking.

Which live channels a glob matches, how many subscribers each followed channel has, what the
settings hashes hold, which axes have a hash: one look, as the survey thread takes every
period, with a plan as the catalogue makes it.
"""

from __future__ import annotations

import redis

from tango_channels import Channel
from tango_channels.transport.address import RedisAddress
from tango_channels_device.bridge.catalogue import SurveyPlan
from tango_channels_device.bridge.settings import SettingSource
from tango_channels_device.bridge.survey import Findings, Survey


def survey(redis_server, plan: SurveyPlan, counts: list[dict[str, int]]) -> Survey:
    found: list[Findings] = []
    address = RedisAddress.from_url(redis_server.url)
    return Survey(address, lambda: plan, found.append, lambda seen, _asked: counts.append(seen))


def test_one_look_finds_glob_matches_counts_settings_and_axes_with_a_hash(
    redis_server, make_bus, unique
):
    bus = make_bus(redis_server.url)
    held = [Channel(f"{unique}.m{i}:x", value=i, bus=bus) for i in range(3)]
    Channel(f"{unique}.other", value=0, bus=bus)  # not matched
    client = redis.Redis.from_url(redis_server.url)
    client.hset(f"{unique}.shutter", mapping={"state": "OPEN", "gone": "None"})
    client.hset(f"axis.{unique}roby", mapping={"velocity": "2.5"})  # no session: a hash only
    plan = SurveyPlan(
        globs=(f"{unique}.m*:x",),
        axis_globs=(f"{unique}rob*",),
        followed=(f"{unique}.m0:x", f"{unique}.nobody"),
        settings=(
            SettingSource(f"{unique}.shutter", "state"),
            SettingSource(f"{unique}.shutter", "gone"),
        ),
    )
    counts: list[dict[str, int]] = []
    looked = survey(redis_server, plan, counts)
    try:
        findings = looked.look(settings=True, axes=True)
    finally:
        looked.stop()
    assert findings.channels == {plan.globs[0]: sorted(c.name for c in held)}
    assert findings.axes == {plan.axis_globs[0]: [f"{unique}roby"]}
    assert counts == [{f"{unique}.m0:x": 1, f"{unique}.nobody": 0}]  # to the bus, at once
    assert findings.settings == {plan.settings[0]: b"OPEN", plan.settings[1]: b"None"}


def test_settings_are_read_only_when_asked(redis_server, unique):
    plan = SurveyPlan(followed=(f"{unique}.x",), settings=(SettingSource(f"{unique}.h", "f"),))
    counts: list[dict[str, int]] = []
    looked = survey(redis_server, plan, counts)
    try:
        findings = looked.look(settings=False)
    finally:
        looked.stop()
    assert counts == [{f"{unique}.x": 0}] and findings.settings is None
