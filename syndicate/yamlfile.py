"""Read a YAML config file under limits, refusing what could hang, exhaust or mislead.

The file must be a regular file of at most :data:`MAX_BYTES`, UTF-8 text whose
nesting, size after expanding aliases, numbers and scalar types are bounded.
Duplicate keys are refused (YAML would silently keep the last one), and so is
text with control characters. Every problem raises :class:`ConfigError` with one
line naming the place: ``line 3, column 5: ...`` or the key path.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syndicate import CONFIG_ENV
from syndicate.errors import ConfigError
from syndicate.files import UnreadableFile, read_regular_file

MAX_BYTES = 1_048_576
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_NUMBER_DIGITS = 40
_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MERGE_TAG = _TAG + "merge"
_ALLOWED_CONTROLS = frozenset("\t\n")
_NAME_RE = re.compile(r"[^\W\d][\w-]*")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Refused(Exception):
    """A problem found while walking the YAML nodes (message already names the place)."""


def key_path(parts: tuple[int | str, ...]) -> str:
    """Format a key path: ``digests[0].delivery.kind``; odd keys are quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _NAME_RE.fullmatch(part) else repr(part)
            out += f".{text}" if out else text
    return out or "(top level)"


def printable_line(problem: str, limit: int = 500) -> str:
    """A problem as one printable line of bounded length, whatever a value it quotes holds."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in problem)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _at(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes: only a regular file, at most MAX_BYTES (never blocks on a FIFO)."""
    try:
        return read_regular_file(path, MAX_BYTES)
    except UnreadableFile as exc:
        if exc.missing:
            reason = f"file not found (use -c PATH or set {CONFIG_ENV})"
        elif exc.too_large:
            reason = f"file too large (limit {MAX_BYTES} bytes)"
        else:
            reason = str(exc)
        raise ConfigError(str(path), [reason]) from None


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text (an optional BOM is dropped); a bad byte is named by line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            str(path),
            [
                f"line {line}, column {column}: not UTF-8 text "
                f"(byte 0x{data[exc.start]:02x}; save the file as UTF-8)"
            ],
        ) from None


def _bad_character(text: str) -> str | None:
    if text.isprintable():  # the usual case, decided in C: no control character at all
        return None
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
            return char
    return None


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before anything recursive sees the document."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
                raise _Refused(f"{where}nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


@dataclass
class _Walk:
    """One pass over the composed nodes: bounds, duplicate keys, scalar types."""

    sizes: dict[int, int] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)

    def size(self, node: yaml.Node, path: tuple[int | str, ...]) -> int:
        """Nodes under ``node`` with aliases expanded (memoised; cycles refused)."""
        if id(node) in self.sizes:
            return self.sizes[id(node)]
        if id(node) in self.active:
            raise _Refused(f"{_at(node)}: {key_path(path)}: an alias refers to itself")
        if len(path) > MAX_DEPTH:
            raise _Refused(f"{_at(node)}: {key_path(path)}: nested deeper than {MAX_DEPTH} levels")
        self.active.add(id(node))
        total = 1 + sum(self.size(child, where) for child, where in self.children(node, path))
        self.active.discard(id(node))
        if total > MAX_NODES:
            raise _Refused(
                f"{_at(node)}: {key_path(path)}: more than {MAX_NODES} values "
                "once aliases are expanded"
            )
        self.sizes[id(node)] = total
        return total

    def children(
        self, node: yaml.Node, path: tuple[int | str, ...]
    ) -> list[tuple[yaml.Node, tuple[int | str, ...]]]:
        """The child nodes with their key paths; checks keys and scalars on the way."""
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, path)
            return []
        if node.tag not in (_TAG + "seq", _TAG + "map"):
            kind = node.tag.removeprefix(_TAG)
            raise _Refused(f"{_at(node)}: {key_path(path)}: unsupported YAML type {kind!r}")
        if isinstance(node, yaml.SequenceNode):
            return [(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self.mapping_children(node, path)
        raise _Refused(f"{_at(node)}: {key_path(path)}: unsupported YAML node")

    def mapping_children(
        self, node: yaml.MappingNode, path: tuple[int | str, ...]
    ) -> list[tuple[yaml.Node, tuple[int | str, ...]]]:
        """Children of a mapping; keys must be unique text."""
        seen: dict[str, yaml.Node] = {}
        out: list[tuple[yaml.Node, tuple[int | str, ...]]] = []
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                out.append((value, path))
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag not in (_TAG + "str",):
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                raise _Refused(
                    f"{_at(key)}: {key_path(path)}: key {shown!r} is not text (quote it)"
                )
            _check_scalar(key, path)
            if key.value in seen:
                first = seen[key.value].start_mark.line + 1
                raise _Refused(
                    f"{key_path((*path, key.value))}: duplicate key "
                    f"(lines {first} and {key.start_mark.line + 1})"
                )
            seen[key.value] = key
            out.append((value, (*path, key.value)))
        return out


def _check_scalar(node: yaml.ScalarNode, path: tuple[int | str, ...]) -> None:
    problem = None
    if node.tag not in _PLAIN_TAGS:
        kind = node.tag.removeprefix(_TAG)
        problem = f"unsupported YAML type {kind!r} (quote the value to make it text)"
    elif (bad := _bad_character(node.value)) is not None:
        problem = f"control character {bad!r} is not allowed"
    elif node.tag == _TAG + "int" and len(node.value) > MAX_NUMBER_DIGITS:
        problem = "number too large"
    if problem is not None:  # the place is written out only for a problem
        raise _Refused(f"{_at(node)}: {key_path(path)}: {problem}")


def _compose(text: str) -> yaml.Node | None:
    _check_depth(text)
    node: yaml.Node | None = yaml.compose(text, Loader=_Loader)
    if node is not None:
        _Walk().size(node, ())
    return node


def _syntax_problem(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        return f"{where}YAML syntax error: {what}"
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return f"line {line}, column {column}: character {char!r} is not allowed"
    return f"YAML error: {' '.join(str(exc).split())}"


class YamlProblem(ValueError):
    """YAML text that cannot be read or is refused; ``str()`` is one line naming the place."""


def parse_yaml(text: str) -> Any:
    """Parse YAML text under the limits above (also fit for front matter and other inputs).

    Returns the plain data (None when empty); raises :class:`YamlProblem`.
    """
    try:
        node = _compose(text)
        if node is None:
            return None
        return _Loader("").construct_document(node)
    except _Refused as exc:
        raise YamlProblem(printable_line(str(exc))) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(printable_line(_syntax_problem(exc, text))) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        raise YamlProblem(printable_line(f"YAML value cannot be read: {exc}")) from None


def load_yaml(path: Path) -> Any:
    """Read the file ``path`` under the limits above; raise :class:`ConfigError` naming it."""
    text = _decode(path, _read_bytes(path))
    try:
        return parse_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(str(path), [str(exc)]) from None
