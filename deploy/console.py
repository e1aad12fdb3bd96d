"""The console scripts ``BeaconChannels`` and ``beacon-channels-deploy``.

Both need the ``device`` extra (PyTango, dsconfig, PyYAML). tango-channels installed without
an extra (from a checkout or a wheel: it is on no package index) is the library alone, and
still declares both scripts: each checks first that the
extra's packages are there, and if not says what to install, instead of a traceback
ending in ``No module named 'tango'``.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["beacon_channels", "beacon_channels_deploy"]

INSTALL = (
    "install tango-channels[device], from a checkout (pip install "
    "'/path/to/tango-channels[device]') or from wheels (docs/deployment.md#install)"
)

# What each script imports from the device extra: import name -> distribution.
SERVER_NEEDS = {"tango": "pytango"}
DEPLOY_NEEDS = {"tango": "pytango", "dsconfig": "dsconfig", "yaml": "pyyaml"}


def require_device_extra(program: str, needs: dict[str, str]) -> None:
    """Exit with a message naming what is missing, unless every module of ``needs`` is
    importable (looked up, not imported: nothing of it runs here)."""
    missing = [dist for module, dist in needs.items() if not _importable(module)]
    if missing:
        sys.exit(
            f"{program}: needs the device extra ({', '.join(missing)} not installed): {INSTALL}"
        )


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def beacon_channels() -> None:
    """``BeaconChannels <instance> [Tango options]``: the Tango device server."""
    require_device_extra("BeaconChannels", SERVER_NEEDS)
    from tango_channels_device.beacon_channels import main

    main()


def beacon_channels_deploy() -> int:
    """``beacon-channels-deploy``: see :mod:`tango_channels_deploy.cli`."""
    require_device_extra("beacon-channels-deploy", DEPLOY_NEEDS)
    from tango_channels_deploy.cli import main

    return main()
