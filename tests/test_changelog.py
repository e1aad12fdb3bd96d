"""The changelog: one section per version, the newest the package's own, an upgrading note
for each version that breaks something; its links work on GitHub (from the repository's root)
and in the docs site, where ``docs/changelog.md`` includes it through the hook
``docs/hooks/root_pages.py``.
"""

from __future__ import annotations

import datetime
import logging
import re
from pathlib import Path

import pytest

import tango_channels

REPO = Path(__file__).resolve().parents[1]
CHANGELOG = REPO / "CHANGELOG.md"
VERSION = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.M)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def sections() -> dict[str, str]:
    """Each version's section, newest first (``Unreleased`` included)."""
    text = CHANGELOG.read_text()
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.split("]")[0].lstrip("["): part for part in parts}


def slugs(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub and MkDocs's toc both make them."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_one_section_per_version_the_newest_being_the_package_s():
    found = VERSION.findall(CHANGELOG.read_text())
    versions = [tuple(int(n) for n in v.split(".")) for v, _ in found]
    dates = [datetime.date.fromisoformat(d) for _, d in found]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert dates == sorted(dates, reverse=True)
    assert found[0][0] == tango_channels.__version__
    assert next(iter(sections())) == "Unreleased"


def test_the_version_that_breaks_things_says_how_to_upgrade():
    section = sections()["0.2.0"]
    upgrading = section.split("### Upgrading from 0.1.0\n")[1].split("\n### ")[0]
    for what in ("[device]", "error event", "tango_channels_device", "BeaconAxis", "exits 3"):
        assert what in upgrading, what


@pytest.mark.parametrize("target", sorted(set(LINK.findall(CHANGELOG.read_text()))))
def test_each_link_works_on_github_and_in_the_site(target, hooks):
    if re.match(r"https?://", target):
        return
    path, _, anchor = target.partition("#")
    assert (REPO / path).is_file(), f"{target}: not in the repository (GitHub)"
    site = hooks.rebased(target, "CHANGELOG.md", "changelog.md")
    assert (REPO / "docs" / site.partition("#")[0]).is_file(), f"{site}: not in the site"
    if anchor:
        assert anchor in slugs(REPO / path), f"{target}: no such heading"


@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "docs" / "hooks"))
    import root_pages

    return root_pages


def test_the_site_s_changelog_is_the_file_with_its_links_rebased(hooks, caplog, tmp_path):
    page = (REPO / "docs" / "changelog.md").read_text()
    assert page == '--8<-- "CHANGELOG.md"\n'

    class Page:
        class file:  # MkDocs's page.file.src_uri
            src_uri = "changelog.md"

    shown = hooks.on_page_markdown(page, Page)
    assert shown == CHANGELOG.read_text().replace("](docs/", "](") + "\n"
    assert "[Access control](access-control.md)" in shown
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert hooks.rebased("bench/soak.py", "CHANGELOG.md", "changelog.md") == "bench/soak.py"
    assert "CHANGELOG.md links bench/soak.py, which is not in the site" in caplog.text
    assert hooks.rebased("https://semver.org/", "x", "y") == "https://semver.org/"
