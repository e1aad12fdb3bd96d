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
    """The protocol and the wire codec it uses import no socket, thread, greenlet or clock:
    they are fed what arrived and the time (sans-I/O, as h11)."""
    forbidden = {"socket", "select", "selectors", "threading", "asyncio", "gevent", "time"}
    for path in [LIBRARY / "protocol.py", *sorted((LIBRARY / "wire").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            used = {name.split(".")[0] for name in names} & forbidden
            assert not used, f"{path.name} imports {used}"
