"""The config's validation layer: immutable models declared as lists of typed fields.

A model is a :class:`ConfigModel` subclass decorated with :func:`model`; it reads
as its keys, their types and their defaults::

    @model
    class FeedsConfig(ConfigModel):
        limit: Annotated[int, Range(ge=1, le=1000)] = 50
        title: Line = "syndicate"

The type says what a key takes, strictly (no coercion): ``str`` text, ``int`` a
whole number (not true/false), ``float`` a finite number (a whole one too),
``bool`` true or false, ``tuple[X, ...]`` a list, ``dict[K, V]`` a mapping,
``Literal`` one of some values, ``X | None`` also null, a model a mapping of its
keys, and a union of models marked :class:`Tagged` a mapping whose ``kind``
picks the model. ``Annotated`` adds what else the value must satisfy, in order:
:func:`before` functions turn what YAML gave into the value (a duration, a
path...) before the type is checked; any other callable runs after it, e.g.
:class:`Range`, :class:`Length` or a function of the field's module. Each says
what is wrong by raising ``ValueError`` (or :class:`Invalid` for keys below).
Those checks and markers are in :mod:`syndicate.config_checks`.

``Model.from_mapping(data, base=folder)`` validates a mapping and returns the
model, or raises :class:`Invalid` listing every problem with its key path; paths
are resolved against ``base`` (:func:`~syndicate.config_checks.base_folder`). A
model's checks are put together the first time it validates, so importing the
config builds none.

Building a model in code (``RuleConfig(section="it", path="/it/")``) or with
:func:`dataclasses.replace` does not validate: it is for values already valid
(or, in tests, deliberately invalid). Models are frozen, compare and hash by value.
"""

import dataclasses
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from types import NoneType, UnionType
from typing import (
    Annotated,
    Any,
    Literal,
    Self,
    TypeVar,
    Union,
    cast,
    dataclass_transform,
    get_args,
)
from typing import get_origin as origin_of

from syndicate.config_checks import (
    FAILED,
    Before,
    Check,
    Invalid,
    Problem,
    Tagged,
    checked,
    expected,
    instance_check,
    is_scalar,
    literal_check,
    mapping_check,
    resolving_against,
    scalar_check,
    tuple_check,
)

_M = TypeVar("_M", bound="ConfigModel")
_Family = tuple[str, dict[str, type["ConfigModel"]]]
"""The noun and models (by tag) of the tagged union a model was picked from."""

_MODELS: list[type["ConfigModel"]] = []
_PLANS: dict[type, dict[str, "_Field"]] = {}
_SLOTS: dict[type, tuple[tuple[str, Any, Any], ...]] = {}
_HIDDEN = "hidden"


@dataclass_transform(
    kw_only_default=True, frozen_default=True, field_specifiers=(dataclasses.field,)
)
def model(cls: type[_M]) -> type[_M]:
    """Make ``cls`` a config model: its annotated names are its keys (a frozen dataclass).

    The dataclass machinery only records the fields; :class:`ConfigModel` gives
    every model the same constructor, equality, hash and ``repr``, so no code is
    generated per class (the config's import stays cheap).
    """
    dataclasses.dataclass(kw_only=True, init=False, repr=False, eq=False)(cls)
    _MODELS.append(cls)
    return cls


def nested(cls: type[_M]) -> _M:
    """The default of a key holding a model: that model with its defaults (taken as given)."""
    default: _M = dataclasses.field(default_factory=cls)
    return default


def hidden(default: Any) -> Any:
    """The default of a field the loader sets (not a key of the file, never suggested)."""
    return dataclasses.field(default=default, metadata={_HIDDEN: True})


def kind_of(cls: type["ConfigModel"]) -> str:
    """The tag of a model in a :class:`Tagged` union: the value of its ``Literal`` ``kind``."""
    (field,) = (f for f in dataclasses.fields(cast(Any, cls)) if f.name == "kind")
    return str(get_args(field.type)[0])


def json_values(value: Any) -> Any:
    """A model (or a value in one) as JSON values: paths as text, lists for tuples."""
    if isinstance(value, ConfigModel):
        return {name: json_values(getattr(value, name)) for name, _, _ in _slots(type(value))}
    if isinstance(value, tuple | list):
        return [json_values(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): json_values(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"no JSON form for {type(value).__name__}")


class ConfigModel:
    """Base of every config model: unknown keys refused, values immutable."""

    def __init__(self, **values: Any) -> None:
        for name, default, factory in _slots(type(self)):
            if name in values:
                value = values.pop(name)
            elif factory is not dataclasses.MISSING:
                value = factory()
            elif default is not dataclasses.MISSING:
                value = default
            else:
                raise TypeError(f"{type(self).__name__}() needs the keyword argument {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got unknown keys {sorted(values)}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base: Path | None = None) -> Self:
        """Validate ``data``; raise :class:`Invalid` naming every problem by key path."""
        with resolving_against(base):
            try:
                return _model_check(cls)(data)
            except ValueError as exc:
                raise Invalid.of(exc) from None

    def cross_check(self, given: AbstractSet[str]) -> None:
        """Checks across keys, run once every key is valid (raise ``ValueError``).

        ``given``: the keys the mapping had (the others hold their defaults).
        """

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name, _, _ in _slots(type(self)))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, ConfigModel)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _ in _slots(type(self)))
        return f"{type(self).__name__}({shown})"


def _slots(cls: type) -> tuple[tuple[str, Any, Any], ...]:
    """Each field's name, default and default factory (dataclasses.MISSING when none)."""
    found = _SLOTS.get(cls)
    if found is None:
        fields = dataclasses.fields(cls)
        found = _SLOTS[cls] = tuple((f.name, f.default, f.default_factory) for f in fields)
    return found


# --- checks put together from the annotations ----------------------------------------------


class _Field:
    """One key of a model: how its value is checked, and what happens when it is missing."""

    __slots__ = ("check", "hidden", "required")

    def __init__(self, check: Check, *, required: bool, hidden: bool) -> None:
        self.check = check
        self.required = required
        self.hidden = hidden


def _plan(cls: type["ConfigModel"]) -> dict[str, _Field]:
    """The checks of each key of ``cls``, put together on first use."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = {f.name: _field(f) for f in dataclasses.fields(cast(Any, cls))}
    return plan


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, ConfigModel)


def _field(field: "dataclasses.Field[Any]") -> _Field:
    if isinstance(field.type, str):
        raise TypeError(f"{field.name}: config modules keep annotations as objects")
    no_default = field.default is dataclasses.MISSING
    required = no_default and field.default_factory is dataclasses.MISSING
    hidden = bool(field.metadata.get(_HIDDEN))
    return _Field(_compile(field.type), required=required, hidden=hidden)


def _compile(annotation: Any) -> Check:
    """One check for a field's annotation: before functions, the type, after functions."""
    meta: tuple[Any, ...] = ()
    if origin_of(annotation) is Annotated:
        annotation, *rest = get_args(annotation)
        meta = tuple(rest)
    tagged = next((m for m in meta if isinstance(m, Tagged)), None)
    steps = [m.function for m in meta if isinstance(m, Before)]
    steps.append(_type_check(annotation, tagged))
    steps += [m for m in meta if callable(m) and not isinstance(m, Before)]
    return steps[0] if len(steps) == 1 else _chain(tuple(steps))


def _chain(steps: tuple[Check, ...]) -> Check:
    def check(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return check


def _type_check(annotation: Any, tagged: Tagged | None) -> Check:
    origin = origin_of(annotation)
    if origin in (Union, UnionType):
        return _union(get_args(annotation), tagged)
    if origin in _GENERICS:
        return _GENERICS[origin](get_args(annotation))
    if is_scalar(annotation):
        return scalar_check(annotation)
    if isinstance(annotation, type):
        return _model_check(annotation) if _is_model(annotation) else instance_check(annotation)
    raise TypeError(f"a config field cannot be {annotation!r}")


_GENERICS: dict[Any, Callable[[tuple[Any, ...]], Check]] = {
    tuple: lambda args: tuple_check(_compile(args[0])),
    dict: lambda args: mapping_check(_compile(args[0]), _compile(args[1])),
    Mapping: lambda args: mapping_check(_compile(args[0]), _compile(args[1])),
    Literal: literal_check,
}


def _union(members: tuple[Any, ...], tagged: Tagged | None) -> Check:
    if tagged is not None:
        return _tagged(members, tagged)
    others = [m for m in members if m is not NoneType]
    if len(others) != 1 or len(members) != 2:
        raise TypeError(f"a union in the config is 'X | None' or Tagged: {members!r}")
    inner = _compile(others[0])
    return lambda value: None if value is None else inner(value)


def _tagged(members: tuple[Any, ...], tagged: Tagged) -> Check:
    by_tag = {kind_of(m): m for m in members}
    known = ", ".join(by_tag)

    def check(value: Any) -> Any:
        if isinstance(value, members):
            return value
        if not isinstance(value, Mapping):
            raise expected("a mapping of keys", value)
        if tagged.key not in value:
            raise Invalid.at(tagged.key, f"required key is missing (known: {known})")
        tag = value[tagged.key]
        cls = by_tag.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise Invalid.at(tagged.key, f"unknown {tagged.key} {tag!r} (known: {known})")
        return _validate(cls, value, (tagged.noun, by_tag))

    return check


def _model_check(cls: type[_M]) -> Callable[[Any], _M]:
    def check(value: Any) -> _M:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise expected("a mapping of keys", value)
        return _validate(cls, value, None)

    return check


def _field_values(
    plan: dict[str, _Field], data: Mapping[str, Any], problems: list[Problem]
) -> dict[str, Any]:
    """The checked value of each key given; a required key missing is a problem."""
    values: dict[str, Any] = {}
    for name, field in plan.items():
        if name in data:
            value = checked(name, data[name], field.check, problems)
            if value is not FAILED:
                values[name] = value
        elif field.required:
            problems.append(((name,), "required key is missing"))
    return values


def _validate(cls: type[_M], data: Mapping[str, Any], family: _Family | None) -> _M:
    """Check every key of ``data`` against ``cls``; the model, or :class:`Invalid`."""
    plan = _plan(cls)
    problems: list[Problem] = []
    values = _field_values(plan, data, problems)
    problems += [((key,), _unknown(cls, key, family)) for key in data if key not in plan]
    if problems:
        raise Invalid(problems)
    made = cls(**values)
    try:
        made.cross_check(data.keys())
    except ValueError as exc:
        raise Invalid.of(exc) from None
    return made


def _unknown(cls: type["ConfigModel"], key: Any, family: _Family | None) -> str:
    """Why ``key`` is refused: another kind takes it, or which known key is close."""
    if family is not None:
        noun, by_tag = family
        kinds = [tag for tag, m in by_tag.items() if key in _plan(m)]
        if kinds:
            listed = ", ".join(kinds[:-1]) + " or " * (len(kinds) > 1) + kinds[-1]
            return f"a {kind_of(cls)} {noun} has no {key!r} (only a {listed} {noun} has it)"
    close = _close_key(cls, key) if isinstance(key, str) else None
    return f"unknown key (did you mean {close!r}?)" if close else "unknown key"


def _close_key(cls: type["ConfigModel"], key: str) -> str | None:
    """The key of ``cls`` closest to ``key``; else, for a key no model has, the closest of all.

    A key of another model (misplaced rather than misspelt) gets no guess from the others.
    """
    import difflib

    own = [name for name, field in _plan(cls).items() if not field.hidden]
    close = difflib.get_close_matches(key, own, n=1)
    if close:
        return close[0]
    known = {n for m in _MODELS for n, f in _plan(m).items() if not f.hidden}
    close = [] if key in known else difflib.get_close_matches(key, sorted(known), n=1)
    return close[0] if close else None
