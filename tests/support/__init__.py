"""Helpers for the test suite: real Redis servers and peer processes."""

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 10, what: str = "") -> None:
    """Poll ``predicate`` until true; fail saying ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.005)
