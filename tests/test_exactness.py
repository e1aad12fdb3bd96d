"""What BLISS published is what a Tango client sees: every value once, in order, no error.

A real BLISS 2.4 session sets a channel 200 times a second for 10 s while a second channel,
a reading client and a CPU-busy process share this 2-core machine; the device exposes both
channels and a Tango client listens to the first. Below the device's capacity, nothing may be
lost, nothing repeated, nothing reordered, and no error event may come while BLISS holds the
channel. What BLISS published is what a plain Redis subscriber heard (BLISS itself publishes
only the latest of two sets its sending greenlet finds). (``bench/exactness.py`` runs the
same 20 times in a row.)
"""

from __future__ import annotations

from support.exactness import one_run


def test_a_bliss_session_at_200_hz_reaches_a_tango_client_value_by_value(
    redis_server, bliss_python, unique, tmp_path
):
    outcome = one_run(redis_server, bliss_python, tmp_path, unique, count=2000, rate=200.0)
    assert outcome.errors == []
    assert outcome.published[-1] == 1999.0 and len(outcome.published) > 1900
    assert outcome.values == outcome.published  # once each, in order, nothing else
    assert outcome.coalesced == 0
