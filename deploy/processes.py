"""Stopping the processes the quick start, its GUI tools and the tests start (device
servers, Tango databases, Taurus panels, Xvfb)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import Any

__all__ = ["stop_processes"]


def stop_processes(processes: Iterable[subprocess.Popen[Any]], timeout: float) -> None:
    """SIGTERM each process, then give each ``timeout`` seconds to exit and SIGKILL those
    still there: all are asked first, so they shut down together rather than in turn."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
