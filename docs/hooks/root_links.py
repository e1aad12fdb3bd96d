"""MkDocs hook: links of the repository's root files work where a page includes them.

``CHANGELOG.md`` and ``README.md`` sit at the repository's root and link the pages as
``docs/access-control.md``, as GitHub resolves them. ``docs/changelog.md`` includes the
changelog (``--8<-- "CHANGELOG.md"``), and there that link would name
``docs/docs/access-control.md``: a broken link, which fails the strict build.

This hook adds a Markdown preprocessor that runs right after pymdownx.snippets has included
the file: a link ``](docs/<path>)`` whose target is a page of the site becomes the path to
that page from the page being built. Nothing else is touched: a link to a page that doesn't
exist stays as it is, and the strict build still fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

LINK = re.compile(r"\]\(docs/(?P<path>[^)#\s]+)(?P<rest>[^)]*)\)")
SNIPPETS_PRIORITY = 32  # pymdownx.snippets's preprocessor: ours runs just after it


class _Site:
    docs = Path()
    page_dir = ""  # the folder of the page being built, in the site's sources


SITE = _Site()


class RootLinks(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return [LINK.sub(_relinked, line) for line in lines]


def _relinked(match: re.Match[str]) -> str:
    path = match["path"]
    if not (SITE.docs / path).is_file():
        return match[0]
    relative = posixpath.relpath(path, SITE.page_dir or ".")
    return f"]({relative}{match['rest']})"


class RootLinksExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(RootLinks(md), "root_links", SNIPPETS_PRIORITY - 1)


def on_config(config: Any, **kwargs: Any) -> Any:
    SITE.docs = Path(config["docs_dir"])
    config["markdown_extensions"].append(RootLinksExtension())
    return config


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    SITE.page_dir = posixpath.dirname(page.file.src_uri)
    return markdown
