"""The operator session of issue 25 on a whole server, against a BLISS 2.4 process: what the
model test (``test_catalogue_model.py``) checks in-process, done once by a real device.

A BLISS process holds ``<u>.c0`` to ``<u>.c2``; the device starts with another line. The
operator adds a glob, removes it, gives it again, then gives it with another option; a client
subscribed from the start stays subscribed throughout. Then one channel goes away (the BLISS
process holding it ends) and comes back (another one holds it), while its line stays.
"""

from __future__ import annotations

import pytest
import tango

from support.redis_server import wait_held
from support.tango_device import Events, outcome, running_device

INVALID = tango.AttrQuality.ATTR_INVALID


@pytest.fixture
def bliss(redis_server, make_peer, bliss_python):
    """Starts a BLISS 2.4 process (a peer: see ``support/peer.py``)."""
    return lambda: make_peer(redis_server.url, impl="bliss", python=bliss_python)


def is_error(reason: str, text: str = ""):
    def check(event: tango.EventData) -> bool:
        return bool(event.err) and event.errors[0].reason == reason and text in event.errors[0].desc

    return check


def test_a_glob_removed_and_given_again_shows_its_channels_to_the_clients_that_stayed(
    redis_server, bliss, unique
):
    names = [f"{unique}.c{i}" for i in range(3)]
    other = f"{unique}_other.x"
    session, ending = bliss(), bliss()  # the last channel's holder ends, later
    for i, name in enumerate([*names, other]):
        (ending if name == names[2] else session).call("open", name=name, value=i + 0.5)
    wait_held(redis_server, *names, other)
    properties = {
        "RedisUrl": redis_server.url,
        "Channels": [f"{other} type=float"],
        "DiscoveryPeriod": 0.5,
    }
    with running_device(properties) as (proxy, _):
        glob = f"{unique}.*"
        assert list(proxy.AddChannel(f"{glob} type=float")) == names
        attributes = [proxy.AttributeName(n) for n in names]
        events = [Events(proxy, a) for a in attributes]  # subscribed from here to the end
        try:
            for i, stream in enumerate(events):
                stream.wait(stream.value_is(i + 0.5))

            assert list(proxy.RemoveChannel(glob)) == attributes
            for stream in events:
                stream.wait(is_error("BeaconChannels_Retired"))
            assert outcome(proxy, attributes[0])[0] == "error"

            # Given again: the same attributes, shown, and events for those who stayed.
            assert list(proxy.AddChannel(f"{glob} type=float")) == names
            assert [proxy.AttributeName(n) for n in names] == attributes
            for i, attribute in enumerate(attributes):
                assert outcome(proxy, attribute) == (i + 0.5, tango.AttrQuality.ATTR_VALID)
            session.call("set", name=names[0], value=10.0)
            events[0].wait(events[0].value_is(10.0))

            # Removed, then given with another option: shown again, as the line now says.
            proxy.RemoveChannel(glob)
            events[1].wait(is_error("BeaconChannels_Retired"))
            assert list(proxy.AddChannel(f"{glob} type=float default=-1.0")) == names
            session.call("set", name=names[1], value=11.0)
            events[1].wait(events[1].value_is(11.0))
            assert sorted(proxy.ChannelNames) == sorted([*names, other])

            # A channel that goes away and comes back while its line stays.
            ending.close()
            events[2].wait(lambda e: not e.err and e.attr_value.quality == INVALID)
            what, why = outcome(proxy, attributes[2])  # a read says why
            assert what == "error" and "no BLISS process holds" in why, why
            bliss().call("open", name=names[2], value=12.0)
            events[2].wait(events[2].value_is(12.0))
            assert outcome(proxy, attributes[2]) == (12.0, tango.AttrQuality.ATTR_VALID)
            assert proxy.state() == tango.DevState.ON, proxy.status()
        finally:
            for stream in events:
                stream.close()
