"""The package as the ecosystem expects it: an sdist and a wheel built without a warning, and
the wheel installed without an extra giving the library a BLISS-side script imports,
working against a real Redis in a venv where PyTango is not even installed.

One build and one fresh venv serve the whole module: the build uses this venv's setuptools
(``--no-isolation``; ``build`` still checks it satisfies ``[build-system] requires``), the
venv gets no pip of its own (this venv's pip installs into it with ``--python``), and the
wheel's dependencies come from pip's cache after the first run.
"""

from __future__ import annotations

import email.parser
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import tango_channels
from tango_channels import Bus, Channel

REPO = Path(__file__).resolve().parents[1]

HOLDER = r"""
import importlib.util, sys, threading
import tango_channels
from tango_channels import Channel

url, name = sys.argv[1], sys.argv[2]
channel = Channel(name, default_value="from the wheel", redis=url)
received = threading.Event()
def on_value(value):
    if value == "from the tests":  # not its own default, which a callback gets too
        print(f"received {value}", flush=True)
        received.set()
channel.register_callback(on_value)
print(f"tango importable: {importlib.util.find_spec('tango') is not None}", flush=True)
print(f"library: {tango_channels.__file__} {tango_channels.__version__}", flush=True)
print(f"value: {channel.value}", flush=True)
print("READY", flush=True)
sys.exit(0 if received.wait(30) else 1)
"""


@dataclass
class Dists:
    sdist: Path
    wheel: Path
    output: str  # what the build printed (stdout and stderr)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist, and the wheel built from it, of a copy of the sources (the build writes
    its egg-info and build/ there, not into the work tree)."""
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
    )
    if listed.returncode != 0:  # an unpacked sdist: what to package is what is here
        pytest.skip("not a git checkout: the sources to package are not known")
    for name in filter(None, listed.stdout.decode().split("\0")):
        path = REPO / name
        if path.is_file():  # a file deleted but not yet committed is still listed
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(path.read_bytes())
            (source / name).chmod(path.stat().st_mode)
    out = tmp_path_factory.mktemp("dist")
    # This machine sets PYTHONDONTWRITEBYTECODE, which makes setuptools warn that it does not
    # byte-compile: a fact of the environment, not of the package.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # The copy is the checkout's work tree, to git: the build records its commit as a build
    # from the checkout does (setup.py).
    git_dir = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    env.update(GIT_DIR=git_dir, GIT_WORK_TREE=str(source))
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(sdist, wheel, output)


@pytest.fixture(scope="module")
def library_venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed, without any extra: its python."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(dists.wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_the_build_warns_of_nothing(dists):
    noisy = [line for line in dists.output.splitlines() if re.search("warn|deprecat", line, re.I)]
    assert not noisy, "\n".join(noisy)


def test_the_wheel_says_its_licence_version_and_what_the_library_needs(dists):
    metadata = _metadata(dists.wheel)
    assert metadata["License-Expression"] == "LGPL-3.0-or-later"
    assert sorted(metadata.get_all("License-File")) == ["COPYING", "COPYING.LESSER"]
    assert metadata["Version"] == tango_channels.__version__
    core = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    assert sorted(re.split("[<>=!~ ;\\[]", r)[0] for r in core) == ["hiredis", "numpy"]
    extras = metadata.get_all("Provides-Extra")
    assert {"device", "test", "docs", "gui", "telemetry"} <= set(extras)
    with zipfile.ZipFile(dists.wheel) as archive:
        assert any(n.endswith("licenses/COPYING.LESSER") for n in archive.namelist())


def test_the_library_alone_takes_part_in_channels_without_tango(
    library_venv, redis_server, bus: Bus, unique, tmp_path
):
    holder = subprocess.Popen(
        [str(library_venv), "-c", HOLDER, redis_server.url, unique],
        cwd=tmp_path,  # not the repository: its tango_channels/ would be imported instead
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        said = [holder.stdout.readline().strip() for _ in range(4)]
        assert said[-1] == "READY", f"{said}\n{holder.stderr.read() if holder.poll() else ''}"
        assert said[0] == "tango importable: False"
        library, version = said[1].removeprefix("library: ").split()
        assert Path(library).is_relative_to(library_venv.parents[1]), library
        assert version == tango_channels.__version__
        assert said[2] == "value: from the wheel"

        channel = Channel(unique, bus=bus)
        assert channel.value == "from the wheel"  # answered by the wheel's process
        channel.value = "from the tests"
        assert holder.stdout.readline().strip() == "received from the tests"
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill()
        holder.wait()


def test_the_wheel_says_which_commit_it_was_built_from(dists, library_venv, tmp_path):
    """Two wheels of one version tell their code apart (device_classes/build_info.py)."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    with zipfile.ZipFile(dists.wheel) as archive:
        record = archive.read("tango_channels_device/build_commit.txt").decode()
    assert record.split()[0] == head
    said = subprocess.run(
        [
            str(library_venv),
            "-c",
            "from tango_channels_device.build_info import version_info; print(version_info())",
        ],
        cwd=tmp_path,  # not the repository
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dirty = ", dirty" if record.split()[1:] == ["dirty"] else ""
    assert said == f"{tango_channels.__version__} (built from {head[:12]}{dirty})"


@pytest.mark.parametrize("script", ["BeaconChannels", "beacon-channels-deploy"])
def test_the_device_scripts_say_which_extra_they_need(library_venv, script):
    done = subprocess.run(
        [str(library_venv.with_name(script)), "--help"], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "install tango-channels[device], from a checkout (pip install " in done.stderr
    assert "'/path/to/tango-channels[device]')" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
