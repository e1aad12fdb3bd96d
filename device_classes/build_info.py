"""Which build of tango-channels runs: the version, and the git commit it was made from.

Two servers saying ``0.2.0`` may run different code: one installed from a checkout some
commits later, one from a wheel built before a fix. :func:`version_info` tells them apart:

- ``0.2.0 (commit 1a2b3c4d5e6f)``, or ``0.2.0 (commit 1a2b3c4d5e6f, dirty)`` when the files
  differ from that commit: where the code runs from a git checkout (an editable install,
  ``deploy/bootstrap.sh``), git is asked, with a short timeout, the first time (never at
  import);
- the same, with ``built from`` instead of ``commit``, for a wheel or sdist: ``setup.py``
  records the commit it was built from in :data:`RECORD` beside this module;
- ``0.2.0`` alone when neither says (no git, a checkout git can't read, an archive without
  the record).

Tango-free, and nothing runs at import time.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tango_channels import __version__

__all__ = ["GIT_TIMEOUT", "RECORD", "BuildInfo", "build_info", "version_info"]

RECORD = "build_commit.txt"  # "<commit>" or "<commit> dirty", written by setup.py
GIT_TIMEOUT = 2.0  # seconds for each git command
_SHORT = 12  # characters of a commit shown


@dataclass(frozen=True)
class BuildInfo:
    """The version, and what is known of the commit: ``source`` is ``"checkout"`` (git was
    asked), ``"build"`` (recorded when built) or ``""`` (unknown, ``commit`` empty)."""

    version: str
    commit: str = ""
    dirty: bool = False
    source: str = ""

    def __str__(self) -> str:
        if not self.commit:
            return self.version
        said = "commit" if self.source == "checkout" else "built from"
        dirty = ", dirty" if self.dirty else ""
        return f"{self.version} ({said} {self.commit[:_SHORT]}{dirty})"


def version_info() -> str:
    """The version, with the commit where it is known (see the module docstring)."""
    return str(build_info())


@functools.cache
def build_info(module: Path | None = None) -> BuildInfo:
    """What :func:`version_info` says, as a record; ``module`` is this file (another path:
    for tests). Asked once per process and path: the code a process runs doesn't change."""
    here = (module or Path(__file__)).resolve()
    checkout = _checkout_of(here)
    if checkout is not None:
        found = _ask_git(checkout)
        if found is not None:
            return BuildInfo(__version__, *found, source="checkout")
    recorded = _recorded(here.with_name(RECORD))
    if recorded is not None:
        return BuildInfo(__version__, *recorded, source="build")
    return BuildInfo(__version__)


def _checkout_of(module: Path) -> Path | None:
    """The repository this module runs from, if it runs from one: its folder is the
    checkout's ``device_classes/`` (an installed copy is under ``site-packages``, whatever
    repository that may be inside of), beside a ``.git`` (a folder, or a worktree's file)."""
    root = module.parent.parent
    if module.parent.name != "device_classes" or not (root / ".git").exists():
        return None
    return root


def _ask_git(root: Path) -> tuple[str, bool] | None:
    """HEAD's commit, and whether tracked files differ from it; None if git can't say."""
    try:
        head = _git(root, "rev-parse", "--verify", "HEAD")
        changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):  # no git, a timeout, not a repository
        return None
    head = head.strip()
    if not _is_commit(head):
        return None
    return head, bool(changes.strip())


def _is_commit(text: str) -> bool:
    """A full commit id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits."""
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout


def _recorded(path: Path) -> tuple[str, bool] | None:
    """The commit and dirtiness ``setup.py`` wrote, or None."""
    try:
        words = path.read_text(encoding="utf-8").split()
    except OSError:
        return None
    if not words or not _is_commit(words[0]):
        return None
    return words[0], words[1:] == ["dirty"]
