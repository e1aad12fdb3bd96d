"""``version_info``: which build runs, told apart from another of the same version.

From a checkout, git is asked (the commit, and ``dirty``); from a wheel, what ``setup.py``
recorded when it was built (tests/test_packaging.py builds one); otherwise the version alone:
no git, a git that hangs, a ``.git`` git can't read. Never at import time.

Each case runs the module from a folder laid out as the case needs (a copy of
``device_classes/build_info.py``), and a ``git`` of the test's own on ``PATH`` where git is
what the case is about.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tango_channels import __version__
from tango_channels_device import build_info as build_info_module
from tango_channels_device.build_info import RECORD, BuildInfo, build_info, version_info

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "device_classes" / "build_info.py"


def git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def fresh():
    """Each case asks again (build_info keeps its answer for the life of the process)."""
    build_info.cache_clear()
    yield
    build_info.cache_clear()


def placed(folder: Path) -> Path:
    """A copy of the module at ``folder/build_info.py``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE, folder / "build_info.py")
    return folder / "build_info.py"


def fake_git(tmp_path: Path, monkeypatch, script: str) -> Path:
    """``git`` is this shell script, first on PATH; it leaves ``ran`` behind when run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_path = bin_dir / "git"
    git_path.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n{script}\n")
    git_path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path / "ran"


def test_from_this_checkout_the_commit_and_whether_files_differ_from_it():
    head = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    info = build_info()
    assert info == BuildInfo(__version__, head, dirty, "checkout")
    expected = f"{__version__} (commit {head[:12]}{', dirty' if dirty else ''})"
    assert version_info() == expected


def test_a_checkout_with_changes_is_dirty(tmp_path):
    repo = tmp_path / "repo"
    module = placed(repo / "device_classes")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo)
    assert build_info(module) == BuildInfo(__version__, head, False, "checkout")
    build_info.cache_clear()
    module.write_text(module.read_text() + "# changed\n")
    assert str(build_info(module)) == f"{__version__} (commit {head[:12]}, dirty)"


COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.mark.parametrize("record", [COMMIT, f"{COMMIT} dirty", "not-a-commit"])
def test_an_installed_build_says_the_commit_it_was_built_from(tmp_path, record):
    module = placed(tmp_path / "site-packages" / "tango_channels_device")
    module.with_name(RECORD).write_text(record + "\n")
    dirty = ", dirty" if record.endswith("dirty") else ""
    expected = (
        f"{__version__} (built from 0123456789ab{dirty})" if COMMIT in record else __version__
    )
    assert str(build_info(module)) == expected


def test_an_installed_copy_inside_some_repository_is_not_that_repository_s_commit(tmp_path):
    """A venv inside a checkout: site-packages is in a git tree that is not the code's."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    module = placed(repo / ".venv" / "lib" / "site-packages" / "tango_channels_device")
    assert build_info(module) == BuildInfo(__version__)


@pytest.mark.parametrize(
    "script",
    ["exit 127", "exec sleep 30", "echo not-a-commit; exit 0"],
    ids=["git fails", "git hangs", "git says nonsense"],
)
def test_when_git_can_t_say_the_version_alone(tmp_path, monkeypatch, script):
    monkeypatch.setattr(build_info_module, "GIT_TIMEOUT", 0.2)
    ran = fake_git(tmp_path, monkeypatch, script)
    repo = tmp_path / "repo"
    module = placed(repo / "device_classes")
    (repo / ".git").mkdir()
    assert build_info(module) == BuildInfo(__version__)
    assert ran.exists()  # git was asked


def test_without_git_at_all_the_version_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git there
    repo = tmp_path / "repo"
    module = placed(repo / "device_classes")
    (repo / ".git").mkdir()
    assert str(build_info(module)) == __version__


def test_importing_it_runs_nothing(tmp_path, monkeypatch):
    ran = fake_git(tmp_path, monkeypatch, "exit 1")
    subprocess.run(
        [sys.executable, "-c", "import tango_channels_device.build_info"],
        check=True,
        cwd=tmp_path,
    )
    assert not ran.exists()
