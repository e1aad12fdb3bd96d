"""What pyproject.toml can't say: the git commit a build is made from.

Everything else is in pyproject.toml. Here, the sdist and the wheel record the commit of the
checkout they are built from (and ``dirty`` if its tracked files differ from it) in
``tango_channels_device/build_commit.txt``, which ``device_classes/build_info.py`` reads: two
wheels of one version then tell which code they hold. A wheel built from an sdist takes the
sdist's record. An editable install records nothing: it runs from the checkout, where git
is asked at run time. Without git, nothing is recorded, and the build goes on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

RECORD = Path("device_classes") / "build_commit.txt"  # in the source tree, as the sdist has it
PACKAGE = "tango_channels_device"  # where device_classes/ installs


def _record(root: Path) -> str | None:
    """``<commit>`` or ``<commit> dirty`` of the checkout at ``root``, else what an sdist
    unpacked there recorded, else None."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
        if Path(top).resolve() == root.resolve():  # not an sdist unpacked in another repo
            head = _git(root, "rev-parse", "--verify", "HEAD")
            changed = _git(root, "status", "--porcelain", "--untracked-files=no")
            return head + (" dirty" if changed else "")
    except (OSError, subprocess.SubprocessError):
        pass
    recorded = root / RECORD
    return recorded.read_text().strip() if recorded.is_file() else None


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        record = _record(Path.cwd())
        if record:
            target = Path(self.build_lib, PACKAGE, RECORD.name)
            target.write_text(record + "\n")


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        record = _record(Path.cwd())
        if record:
            target = Path(base_dir, RECORD)
            target.unlink(missing_ok=True)  # a hard link to the source's, if there is one
            target.write_text(record + "\n")


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
