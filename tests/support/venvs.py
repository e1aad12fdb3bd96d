"""Venvs the tests run other programs in (BLISS 2.4, PyTango 9), built on first use and
cached in ``$XDG_CACHE_HOME/tango-channels`` (``~/.cache`` by default).

A venv's directory name holds a digest of what it is built from, so that changing a
requirement builds a new venv instead of trusting an old one; ``.complete`` is written last,
so that a build that failed half-way is built again. A lock lets two test runs share a build.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["cached_venv"]


def cached_venv(name: str, installs: list[list[str]], check: str) -> Path:
    """The python of the venv ``name``: ``pip install`` of each of ``installs`` in turn
    (each a list of pip arguments), then ``python -c check``, which must succeed."""
    recipe = "\n".join([" ".join(args) for args in installs] + [check])
    key = hashlib.sha256(recipe.encode()).hexdigest()[:10]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tango-channels"
    venv = root / f"{name}-{key}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        if done.exists():
            return python
        base = getattr(sys, "_base_executable", sys.executable)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        steps = [
            [base, "-m", "venv", "--clear", str(venv)],
            *([*pip, *args] for args in installs),
            [str(python), "-c", check],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=1200)
            if result.returncode != 0:
                raise RuntimeError(
                    f"building the venv {name} failed at {' '.join(step[:7])}: "
                    f"{(result.stderr or result.stdout)[-1500:]}"
                )
        done.write_text(recipe + "\n")
    return python
