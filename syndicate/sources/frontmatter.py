"""A bounded, safe YAML loader for the front matter of one file.

PyYAML's safe loader refuses ``!!python`` tags but nothing else: it recurses once per
nesting level (a 50,000-deep ``[[[...]]]`` raises ``RecursionError``), expands nothing
itself but hands back shared objects that explode when walked (aliases of aliases, the
"billion laughs"), and lets ``int()``/``datetime()`` errors escape as ``ValueError``.
:func:`load_front_matter` bounds the text size, the nesting depth and the number of nodes
*after* alias expansion while composing (so a bomb is refused before anything is built),
refuses aliases that refer to themselves and ``!!binary`` values, turns over-long numbers and
impossible dates into the text written, and returns plain data: string keys, and strings
with lone surrogates and control characters replaced or removed.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_FRONT_MATTER_CHARS = 100_000
MAX_DEPTH = 20
MAX_NODES = 10_000
MAX_NUMBER_CHARS = 40

_CONTROLS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES_RE = re.compile(r"[\ud800-\udfff]")


class FrontMatterError(ValueError):
    """The front matter cannot be used; the message says why in one line."""


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that counts depth and expanded size of every node as it composes it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nesting = 0
        self._composed = 0
        self._measures: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose one node, refusing it when it nests or expands past the limits."""
        self._nesting += 1
        self._composed += 1
        if self._nesting > MAX_DEPTH:
            raise FrontMatterError(f"front matter nested deeper than {MAX_DEPTH} levels")
        if self._composed > MAX_NODES:
            raise FrontMatterError(f"front matter has more than {MAX_NODES} values")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._nesting -= 1
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, node: Node) -> None:
        """Record (depth, size) of ``node`` counting each alias as the whole node it names."""
        if id(node) in self._measures:
            return
        children = _children(node)
        try:
            measured = [self._measures[id(child)] for child in children]
        except KeyError:
            raise FrontMatterError("front matter: an alias refers to its own node") from None
        depth = 1 + max((d for d, _ in measured), default=0)
        size = 1 + sum(s for _, s in measured)
        if depth > MAX_DEPTH:
            raise FrontMatterError(
                f"front matter nested deeper than {MAX_DEPTH} levels (via aliases)"
            )
        if size > MAX_NODES:
            raise FrontMatterError(f"front matter has more than {MAX_NODES} values (via aliases)")
        self._measures[id(node)] = (depth, size)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _scalar_or_text(loader: _BoundedLoader, node: Node, construct: Any) -> Any:
    """Construct a number or date, or keep the text when it is too long or impossible."""
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    if len(str(text)) > MAX_NUMBER_CHARS:
        return text
    try:
        return construct(loader, node)
    except Exception:  # e.g. !!int "" or !!timestamp "x": PyYAML's own errors are not YAMLError
        return text


def _refuse_binary(loader: _BoundedLoader, node: Node) -> Any:
    raise FrontMatterError("front matter: binary (!!binary) values are not allowed")


def _lenient(construct: Any) -> Any:
    def constructor(loader: _BoundedLoader, node: Node) -> Any:
        return _scalar_or_text(loader, node, construct)

    return constructor


for _tag, _construct in (
    ("int", yaml.SafeLoader.construct_yaml_int),
    ("float", yaml.SafeLoader.construct_yaml_float),
    ("timestamp", yaml.SafeLoader.construct_yaml_timestamp),
):
    _BoundedLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _lenient(_construct))
_BoundedLoader.add_constructor("tag:yaml.org,2002:binary", _refuse_binary)


def clean_text(text: str) -> str:
    """Return ``text`` with surrogate pairs joined, lone surrogates as U+FFFD, controls dropped."""
    if _SURROGATES_RE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROLS_RE.sub("", text)


class _Plain:
    """Turns constructed YAML into plain data, noting whether any text had to be cleaned."""

    def __init__(self) -> None:
        self.cleaned = False

    def text(self, value: str) -> str:
        cleaned = clean_text(value)
        self.cleaned = self.cleaned or cleaned != value
        return cleaned

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float | date):
            return value
        if isinstance(value, dict):
            return {self.key(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        raise FrontMatterError(f"front matter: {type(value).__name__} values are not allowed")

    def key(self, key: Any) -> str:
        return self.text(key if isinstance(key, str) else str(key))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 2}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"bad YAML front matter{where}: {problem}"


def load_front_matter(text: str) -> tuple[dict[str, Any], bool]:
    """Load front matter text into a mapping with string keys; return it and "was cleaned".

    Raise :class:`FrontMatterError` naming the problem when the text is too long, nests or
    expands too far, is not YAML, or is not a mapping.
    """
    if len(text) > MAX_FRONT_MATTER_CHARS:
        raise FrontMatterError(f"front matter longer than {MAX_FRONT_MATTER_CHARS} characters")
    loader = _BoundedLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise FrontMatterError(_yaml_problem(exc)) from None
    except FrontMatterError:
        raise
    except RecursionError:
        raise FrontMatterError(f"front matter nested deeper than {MAX_DEPTH} levels") from None
    except Exception as exc:
        raise FrontMatterError(f"bad YAML front matter: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise FrontMatterError("front matter is not a mapping of keys")
    plain = _Plain()
    mapping = plain.value(data)
    return mapping, plain.cleaned
