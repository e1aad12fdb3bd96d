"""Griffe extension: the docstrings' Sphinx cross-references as mkdocstrings links.

The library's docstrings are written for Sphinx (:class:`~tango_channels.bus.Bus`,
:meth:`send_unsent`, :mod:`.decode`); mkdocstrings links with Markdown reference links
(``[`Bus`][tango_channels.bus.Bus]``). Once the package is loaded, each role becomes:

- a link to the object, when the target is an object of this package, resolved as Sphinx
  would (see :func:`_resolve`). mkdocs-autorefs then fails the strict build if that object is
  not rendered on some page;
- plain code, when the target is private (``_query_id``: not rendered), outside this package
  (``threading.Lock``, ``TimeoutError``: no inventory is fetched, the build is offline), or
  written ``!target`` (Sphinx's "no link");
- a warning (which fails ``mkdocs build --strict``) when the target is none of these: a
  misspelt or removed name.

The RST literal-block marker ending a paragraph (``API::``) becomes a colon.
"""

from __future__ import annotations

import builtins
import importlib.util
import logging
import re
from typing import Any

from griffe import (
    AliasResolutionError,
    CyclicAliasError,
    Extension,
    GriffeLoader,
    Module,
    NameResolutionError,
    Object,
)

log = logging.getLogger("mkdocs.plugins.sphinx_xrefs")  # warnings fail mkdocs --strict

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|exc|obj|const):`(?P<body>[^`]+)`"
)
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.MULTILINE)


class SphinxCrossReferences(Extension):
    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj, loader)


def _walk(obj: Object) -> list[Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def convert(text: str, obj: Object, loader: GriffeLoader) -> str:
    text = ROLE.sub(lambda match: _link(match, obj, loader), text)
    return LITERAL_BLOCK.sub(":", text)


def _link(match: re.Match[str], obj: Object, loader: GriffeLoader) -> str:
    role, body = match["role"], match["body"].strip()
    explicit = EXPLICIT_TITLE.match(body)
    title, target = (explicit["title"], explicit["target"]) if explicit else (None, body)
    no_link = target.startswith("!")
    short = target.startswith("~")
    target = target.lstrip("!~")
    if title is None:
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        if role in ("func", "meth"):
            title += "()"
    code = f"`{title}`"
    if no_link:
        return code
    path = _resolve(target, obj, loader)
    if path is None:
        if not _external(target, obj):
            log.warning(
                "%s: :%s:`%s` names nothing in %s nor outside it",
                obj.path,
                role,
                target,
                obj.package.name,
            )
        return code
    if any(part.startswith("_") and not part.startswith("__") for part in path.split(".")):
        return code  # private: not rendered, so not linked
    return f"[{code}][{path}]"


def _resolve(target: str, obj: Object, loader: GriffeLoader) -> str | None:
    """The path to link ``target`` to, if it names an object of this package; else None.

    Sphinx's order: relative to the documented object, then its parents (a class's inherited
    members included), then what their modules import; a leading dot is relative to the
    module's package. Last, a method or attribute named alone in a module's docstring is the
    one of the module's classes that has it, if exactly one does.
    """
    if target.startswith("."):
        module = obj.module
        base: Object = module if module.is_init_module else module.parent  # type: ignore[assignment]
        dots = len(target) - len(target.lstrip("."))
        for _ in range(dots - 1):
            base = base.parent  # type: ignore[assignment]
        return _find(f"{base.path}.{target.lstrip('.')}", loader)
    first, _, rest = target.partition(".")
    start = _in_scope(first, obj, loader)
    if start is None:
        return None
    return _find(f"{start}.{rest}" if rest else start, loader)


def _in_scope(name: str, obj: Object, loader: GriffeLoader) -> str | None:
    scope: Object | None = obj
    while scope is not None:
        if scope.is_class and name in scope.all_members:
            return f"{scope.path}.{name}"
        scope = scope.parent
    try:
        return obj.resolve(name)
    except NameResolutionError:
        pass
    if name in loader.modules_collection.members:
        return name
    owners = [
        member
        for member in obj.module.members.values()
        if not member.is_alias and member.is_class and name in member.all_members
    ]
    return f"{owners[0].path}.{name}" if len(owners) == 1 else None


def _find(path: str, loader: GriffeLoader) -> str | None:
    """The page anchor of ``path``: its canonical path, or for a member a class inherits,
    the inheriting class's (mkdocstrings renders inherited members there)."""
    top, *parts = path.split(".")
    if top not in loader.modules_collection.members:
        return None
    found: Any = loader.modules_collection.members[top]
    owner = None
    for part in parts:
        if found.is_alias:
            try:
                found = found.final_target
            except (AliasResolutionError, CyclicAliasError):  # to outside the loaded packages
                return None
        members = found.all_members if found.is_class else found.members
        if part not in members:
            return None
        owner, found = found, members[part]
    if owner is not None and owner.is_class and parts[-1] not in owner.members:
        return f"{owner.canonical_path}.{parts[-1]}"  # inherited
    try:
        return str(found.canonical_path)
    except (AliasResolutionError, CyclicAliasError):
        return None


def _external(target: str, obj: Object) -> bool:
    """Whether ``target`` names something outside this package: a builtin, an importable
    module, or a name the docstring's module imports from elsewhere."""
    first = target.lstrip(".").split(".")[0]
    if target.startswith("."):
        return False
    if hasattr(builtins, first):
        return True
    try:
        imported = obj.resolve(first)
    except NameResolutionError:
        imported = first
    top = imported.split(".")[0]
    return top != obj.package.name and importlib.util.find_spec(top) is not None
