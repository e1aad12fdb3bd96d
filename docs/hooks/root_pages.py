"""MkDocs hook: a page of the site that is a file of the repository's root, its links made
to work in both places.

``docs/changelog.md`` is the one line ``--8<-- "CHANGELOG.md"``. CHANGELOG.md is read on
GitHub (and in the sdist) from the root, where a page of the site is ``docs/<page>.md``;
included as it is, that link would point at ``docs/docs/<page>.md``. This hook includes the
file itself, before the snippets extension would, with each such link rebased onto the site
(``docs/cli.md#exit-codes`` -> ``cli.md#exit-codes``). A relative link to anything else of
the repository would lead nowhere in the site: it fails the strict build. Web links and
anchors stay as they are.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.root_pages")  # warnings fail mkdocs --strict

REPO = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r'^--8<-- "(?P<name>[^"/]+)"$', re.MULTILINE)  # a file of the root
LINK = re.compile(r"(?P<text>\]\()(?P<target>[^)\s]+)\)")
SITE = "docs/"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    return INCLUDE.sub(lambda match: included(match["name"], page.file.src_uri), markdown)


def included(name: str, page: str) -> str:
    """The root's file ``name``, its links rebased onto the site."""
    text = (REPO / name).read_text(encoding="utf-8")
    return LINK.sub(lambda match: match["text"] + rebased(match["target"], name, page) + ")", text)


def rebased(target: str, name: str, page: str) -> str:
    if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):  # a URL, an anchor
        return target
    if target.startswith(SITE):
        return target[len(SITE) :]
    log.warning("%s: %s links %s, which is not in the site", page, name, target)
    return target
