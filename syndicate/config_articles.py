"""Config of article identity: the ``id_date`` of public ids and the ``duplicates:`` section.

Kept apart from :mod:`syndicate.config` so these keys live in one short module;
errors carry key paths such as ``duplicates.drop_params[2]`` like every other key.
"""

from datetime import date, timedelta
from typing import Annotated, Any

from syndicate import DEFAULT_ID_DATE
from syndicate.config_checks import before
from syndicate.config_fields import DurationField, Flag, Line
from syndicate.config_model import ConfigModel, model
from syndicate.matching import FOLDED_HOSTS, TITLE_WINDOW, TRACKING_PARAMS, Matching

MAX_TITLE_WINDOW = timedelta(days=14)
"""The widest ``duplicates.title_window``."""


def _id_date(value: Any) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date such as 2024-05-01 (YYYY-MM-DD)")


IdDate = Annotated[date, before(_id_date)]
"""A date given as ``"YYYY-MM-DD"``."""


def _host_prefix(value: str) -> str:
    if not value.endswith(".") or value.count(".") != 1 or len(value) < 2:
        raise ValueError(f"{value!r}: a host prefix is one label and a dot, such as 'm.'")
    return value.lower()


def _window(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= MAX_TITLE_WINDOW:
        raise ValueError(f"a title window is more than 0 and at most {MAX_TITLE_WINDOW.days}d")
    return value


Window = Annotated[DurationField, _window]
"""A duration of more than 0 and at most :data:`MAX_TITLE_WINDOW`."""

HostPrefix = Annotated[Line, _host_prefix]
"""One host label and a dot, such as ``m.``."""


@model
class DuplicatesConfig(ConfigModel):
    """How the same story from two sources is recognised (and stored once).

    ``drop_params``: query parameters that never name a story (``fnmatch``
    patterns such as ``utm_*``); ``fold_hosts``: host prefixes of mobile or
    other copies of a site (``m.``); ``title_window``: how far apart two
    articles with the same title may be published; ``enabled: false`` stores
    every source's copy apart.
    """

    enabled: Flag = True
    drop_params: tuple[Line, ...] = TRACKING_PARAMS
    fold_hosts: tuple[HostPrefix, ...] = FOLDED_HOSTS
    title_window: Window = TITLE_WINDOW

    def matching(self) -> Matching:
        """The plain :class:`~syndicate.matching.Matching` the store and decide take."""
        return Matching(self.drop_params, self.fold_hosts, self.title_window, self.enabled)


__all__ = ["DEFAULT_ID_DATE", "MAX_TITLE_WINDOW", "DuplicatesConfig", "IdDate"]
