"""Importing the library changes nothing in the importing process."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "tango_channels"


def test_import_has_no_side_effects():
    code = (
        "import sys, threading\n"
        "import tango_channels\n"
        "assert 'tango' not in sys.modules, 'tango imported'\n"
        "assert not any(m == 'bliss' or m.startswith('bliss.') for m in sys.modules), 'bliss'\n"
        "assert 'gevent' not in sys.modules, 'gevent imported'\n"
        "assert threading.active_count() == 1, 'a thread started'\n"
        "import socket, gevent.monkey\n"
        "assert not gevent.monkey.is_module_patched('socket'), 'socket patched'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_protocol_core_does_no_io_of_its_own():
    """The protocol and the wire codec it uses import no socket, thread, greenlet, clock,
    logger or id source: they are fed what arrived, the time and the ids, and return what to
    log (sans-I/O, as h11)."""
    forbidden = {"socket", "select", "selectors", "threading", "asyncio", "gevent", "time"}
    forbidden |= {"logging", "uuid", "random"}
    for path in [LIBRARY / "protocol.py", *sorted((LIBRARY / "wire").glob("*.py"))]:
        used = _imported(path) & forbidden
        assert not used, f"{path.name} imports {used}"


def test_the_devices_tango_free_half_imports_no_tango():
    """``tango_channels_device.bridge`` holds Tango's rules (criteria, qualities, naming)
    without Tango, so that it is tested in-process with a fake bus and clock."""
    bridge = Path(__file__).resolve().parents[1] / "device_classes" / "bridge"
    for path in sorted(bridge.glob("*.py")):
        assert not _imported(path) & {"tango", "bliss"}, path.name


def _imported(path: Path) -> set[str]:
    """The top-level packages a module imports (absolute imports only)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add((node.module or "").split(".")[0])
    return found


def test_the_read_only_commands_are_declared_where_the_device_can_import_them():
    """``tango_channels_device.access`` (the default AllowedAccessCmd) imports no Tango, no
    device, and starts nothing: the device's class can take its list from there."""
    code = (
        "import sys, threading\n"
        "from tango_channels_device.access import DEFAULT_ALLOWED\n"
        "assert 'tango' not in sys.modules, 'tango imported'\n"
        "assert 'tango_channels_device.beacon_channels' not in sys.modules, 'the device'\n"
        "assert threading.active_count() == 1, 'a thread started'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
