"""What a config value must be: its YAML type, its bounds, and the problems found.

The checks :mod:`syndicate.config_model` puts together from a field's annotation:
each takes the value YAML gave and returns the value to keep, or raises
``ValueError`` saying in one line what is wrong (or :class:`Invalid`, whose
problems carry key paths below the value). Types are strict: text is not a
number, true/false is not a whole number, nothing is coerced.

The markers of ``Annotated`` live here too: :func:`before` (turn the raw value
into the field's before its type is checked), :class:`Range`, :class:`Length`
and :class:`Tagged` (a union of models picked by their ``kind``).
"""

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any

from syndicate.yamlfile import key_path

Loc = tuple[int | str, ...]
Problem = tuple[Loc, str]
Check = Callable[[Any], Any]

FAILED: Any = object()
"""What :func:`checked` returns for a value that failed (its problems are noted)."""

_BASE: ContextVar[Path | None] = ContextVar("config_base", default=None)
_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


class Invalid(ValueError):
    """Problems found in one value, each with its key path below that value."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(self.lines()))

    @classmethod
    def at(cls, key: int | str, message: str) -> "Invalid":
        """One problem at ``key`` below the value being checked."""
        return cls([((key,), message)])

    @classmethod
    def of(cls, exc: ValueError) -> "Invalid":
        """``exc`` as problems: itself if it is :class:`Invalid`, else one at the top."""
        return exc if isinstance(exc, Invalid) else cls([((), str(exc))])

    def lines(self) -> list[str]:
        """One ``key.path: message`` line per problem, duplicates dropped."""
        return list(dict.fromkeys(f"{key_path(loc)}: {message}" for loc, message in self.problems))


@contextmanager
def resolving_against(base: Path | None) -> Iterator[None]:
    """Within the block, :func:`base_folder` is ``base``."""
    token = _BASE.set(base)
    try:
        yield
    finally:
        _BASE.reset(token)


def base_folder() -> Path | None:
    """The folder relative paths are resolved against, while a model validates."""
    return _BASE.get()


def yaml_type(value: Any) -> str:
    """What a YAML user calls the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    names = {int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__)


def expected(what: str, value: Any) -> ValueError:
    """The problem of a value of the wrong type: ``expected a list, not text``."""
    return ValueError(f"expected {what}, not {yaml_type(value)}")


class Before:
    """Marks a function that turns the raw value into the field's value before type checks."""

    __slots__ = ("function",)

    def __init__(self, function: Check) -> None:
        self.function = function


def before(function: Check) -> Before:
    """Run ``function`` on the value as YAML gave it, before its type is checked."""
    return Before(function)


class Tagged:
    """Marks a union of models picked by the text under ``key`` (a ``noun`` in messages)."""

    __slots__ = ("key", "noun")

    def __init__(self, noun: str, key: str = "kind") -> None:
        self.noun = noun
        self.key = key


class Range:
    """Bounds of a number: ``ge`` (at least), ``gt`` (more than), ``le`` (at most)."""

    __slots__ = ("ge", "gt", "le")

    def __init__(
        self, ge: float | None = None, le: float | None = None, gt: float | None = None
    ) -> None:
        self.ge, self.le, self.gt = ge, le, gt

    def __call__(self, value: float) -> float:
        """Return ``value`` if inside the bounds."""
        if self.ge is not None and value < self.ge:
            raise ValueError(f"Input should be greater than or equal to {self.ge}")
        if self.gt is not None and value <= self.gt:
            raise ValueError(f"Input should be greater than {self.gt}")
        if self.le is not None and value > self.le:
            raise ValueError(f"Input should be less than or equal to {self.le}")
        return value


class Length:
    """How many characters a text (or items a list) may have."""

    __slots__ = ("high", "low")

    def __init__(self, low: int = 0, high: int | None = None) -> None:
        self.low, self.high = low, high

    def __call__(self, value: str | tuple[Any, ...]) -> Any:
        """Return ``value`` if its length is inside the bounds."""
        text = isinstance(value, str)
        what, unit = ("String", "character") if text else ("List", "item")
        if len(value) < self.low:
            plural = unit + "s" * (self.low != 1)
            found = "" if text else f", not {len(value)}"
            raise ValueError(f"{what} should have at least {self.low} {plural}{found}")
        if self.high is not None and len(value) > self.high:
            raise ValueError(f"{what} should have at most {self.high} {unit}s")
        return value


def is_scalar(annotation: Any) -> bool:
    """Whether ``annotation`` is one of the YAML scalars: str, int, float, bool."""
    return annotation in _TYPE_NAMES


def scalar_check(kind: type) -> Check:
    """The check of a YAML scalar type: text, whole number, finite number, true/false."""
    if kind is float:
        return _number
    if kind is int:
        return _whole
    return instance_check(kind, _TYPE_NAMES[kind])


def _whole(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise expected("a whole number", value)
    return value


def _number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise expected("a number", value)
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("Input should be a finite number (this one is too large)") from None
    if not math.isfinite(number):
        raise ValueError("Input should be a finite number")
    return number


def instance_check(kind: type, name: str | None = None) -> Check:
    """The check that a value is a ``kind`` (what a :func:`before` function returned)."""
    what = name or kind.__name__

    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise expected(what, value)
        return value

    return check


def literal_check(choices: tuple[Any, ...]) -> Check:
    """The check that a value is one of ``choices`` (of the same type: true is not 1)."""
    shown = [repr(choice) for choice in choices]
    listed = ", ".join(shown[:-1]) + " or " * (len(shown) > 1) + shown[-1]

    def check(value: Any) -> Any:
        if not any(type(value) is type(c) and value == c for c in choices):
            raise ValueError(f"Input should be {listed}")
        return value

    return check


def checked(key: int | str, value: Any, check: Check, problems: list[Problem]) -> Any:
    """``check(value)``; when it fails, :data:`FAILED`, its problems (below ``key``) noted."""
    try:
        return check(value)
    except Invalid as exc:
        problems += [((key, *loc), message) for loc, message in exc.problems]
    except ValueError as exc:
        problems.append(((key,), str(exc)))
    return FAILED


def checked_all(pairs: Iterable[tuple[int | str, Any]], check: Check) -> list[Any]:
    """Each value checked; raise :class:`Invalid` with every problem if any."""
    problems: list[Problem] = []
    values = [checked(key, value, check, problems) for key, value in pairs]
    if problems:
        raise Invalid(problems)
    return values


def tuple_check(item: Check) -> Check:
    """The check of a list whose items pass ``item``; the value is a tuple."""

    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise expected("a list", value)
        return tuple(checked_all(enumerate(value), item))

    return check


def mapping_check(key: Check, item: Check) -> Check:
    """The check of a mapping whose keys pass ``key`` and values ``item`` (read-only)."""

    def check(value: Any) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            raise expected("a mapping of keys", value)
        keys = checked_all(((k, k) for k in value), key)
        values = checked_all(iter(value.items()), item)
        return MappingProxyType(dict(zip(keys, values, strict=True)))

    return check
