"""The errors syndicate raises, one tree rooted at :class:`SyndicateError`.

::

    SyndicateError                 every expected failure; str() is one line for the user
    ├── ConfigError                schedules.yaml is unreadable or invalid (carries every problem)
    ├── StoreError                 the database cannot be opened, migrated or written
    │   ├── SchemaOutOfDate        the database needs ``syndicate db upgrade``
    │   └── StoreUnavailable       the database did not answer or dropped the connection
    ├── SourceError                one source could not be retrieved or parsed (names the source)
    ├── ExtractError               a page holds no article (names the page)
    ├── SubscriberFileError        a subscribers file cannot be imported (names file and line)
    ├── FeedWriteError             a feed file could not be rendered or written
    ├── RenderError                a digest template failed to render
    ├── EditionNotDue              no edition now: quiet hours (``until``) or too late (skipped)
    ├── DeliveryError              a message could not be delivered (names the recipient)
    └── WebError                   the web server cannot start (e.g. its port is taken)

Third-party exceptions are caught at the module that talks to the library and
re-raised as one of these with ``raise ... from exc``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: `--help` and `check` load no domain model
    from syndicate.model import SendState

_BREAKS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` as one line: control characters and line breaks become spaces, runs of
    whitespace one space, cut to ``limit`` characters. The one "make this one line" helper
    for messages, reasons, names and headers."""
    line = " ".join(_BREAKS_RE.sub(" ", text).split())
    return line if limit is None else line[:limit]


class SyndicateError(Exception):
    """Base of every error syndicate expects and explains in one line."""


class ConfigError(SyndicateError):
    """The configuration file is unreadable or invalid.

    ``problems`` holds one line per problem, each naming the key path.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("; ".join(f"{path}: {p}" for p in problems))

    def lines(self) -> list[str]:
        """Return one printable line per problem, each prefixed with the file name."""
        return [f"{self.path}: {p}" for p in self.problems]


class StoreError(SyndicateError):
    """The store (database) failed."""


class SchemaOutOfDate(StoreError):
    """The database schema is older than this version of syndicate."""


class StoreUnavailable(StoreError):
    """The database could not be reached, or dropped the connection of a transaction.

    The work is left to be run again (each stage's unit of work is idempotent).
    """


class SourceError(SyndicateError):
    """A source failed to be retrieved or parsed."""

    def __init__(self, source_id: str, message: str) -> None:
        self.source_id = source_id
        self.message = message
        super().__init__(f"source {source_id!r}: {message}")


class SubscriberFileError(SyndicateError):
    """A subscribers file has a problem; the message names file and line."""


class FeedWriteError(SyndicateError):
    """A feed could not be generated or written."""


class RenderError(SyndicateError):
    """A digest could not be rendered."""


class EditionNotDue(SyndicateError):
    """No edition is built now, which is normal, not a failure.

    ``until`` is when the slot's edition may be built (the end of the digest's
    quiet hours); ``None`` means the slot is past its grace and is skipped.
    """

    def __init__(self, message: str, until: datetime | None = None) -> None:
        self.until = until
        super().__init__(message)


class DeliveryError(SyndicateError):
    """A message could not be delivered, and what that leaves its send in.

    ``state`` is the :class:`~syndicate.model.SendState` the failure leaves:
    ``deferred`` (try again later; the default), ``failed`` (``permanent=True``),
    ``bounced`` (the mailbox does not exist) or ``uncertain`` (the message may
    have gone out). ``unreachable``: the server could not be used at all (connect,
    login, sender refused), which counts toward stopping the edition;
    ``policy``: a 5.7.x refusal, which counts toward pausing the recipient's domain.
    """

    def __init__(
        self,
        recipient: str,
        message: str,
        *,
        permanent: bool = False,
        state: SendState | None = None,
        unreachable: bool = False,
        policy: bool = False,
    ) -> None:
        from syndicate.model import SendState

        self.recipient = recipient
        self.message = message
        self.state = state or (SendState.FAILED if permanent else SendState.DEFERRED)
        self.unreachable = unreachable
        self.policy = policy
        super().__init__(f"delivery to {recipient}: {message}")

    @property
    def permanent(self) -> bool:
        """True when the message is never tried again (failed or bounced)."""
        return self.state.is_final


class ExtractError(SyndicateError):
    """A page has no article that can be extracted; the message names the page."""


class WebError(SyndicateError):
    """``syndicate serve`` cannot start: the address is taken or cannot be listened on."""
