"""Importing the library changes nothing in the importing process."""

from __future__ import annotations

import subprocess
import sys


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
