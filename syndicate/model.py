"""Plain domain objects passed between stages.

Every ``datetime`` here is timezone-aware and in UTC; conversion to the
configured timezone happens only when writing output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; naive values are rejected."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Section:
    """A section of the publication (IT·과학, 경제, ...), in display order."""

    id: str
    name: str
    order: int


@dataclass
class Article:
    """One article as collected from a source and as kept by the store.

    ``guid`` is the source's stable key for the article (its GUID, else its URL).
    ``summary_html`` and ``content_html`` are already sanitized.
    ``seq`` (the ingest sequence: stored articles are numbered in the order they
    were first stored), ``public_id`` and ``first_seen_at`` are set by the store
    and stay ``None`` on freshly collected articles.
    """

    source_id: str
    guid: str
    url: str
    title: str
    section_id: str
    summary_html: str = ""
    content_html: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    published_at: datetime | None = None
    updated_at: datetime | None = None
    image_url: str = ""
    seq: int | None = None
    public_id: str | None = None
    first_seen_at: datetime | None = None

    @property
    def sort_time(self) -> datetime:
        """The time used to order articles: published, else updated, else first seen."""
        for value in (self.published_at, self.updated_at, self.first_seen_at):
            if value is not None:
                return value
        return datetime.min.replace(tzinfo=UTC)


def newest_first(articles: Iterable[Article]) -> list[Article]:
    """Order articles as the store does: newest sort time first, then highest ingest sequence."""
    return sorted(articles, key=lambda a: (a.sort_time, a.seq or 0), reverse=True)


class SubscriptionState(StrEnum):
    """Whether a subscription receives its digest (the values are what the store keeps).


    ``pending``: someone asked on the subscribe form and the address owner has not
    yet confirmed; nothing is mailed to it but the confirmation message.
    ``bounced``: the receiving server said the mailbox does not exist (SMTP
    5.1.1, 5.1.10, 5.2.1); nothing is mailed to it again.
    """

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"

    @classmethod
    def parse(cls, text: str) -> SubscriptionState:
        """The state named by ``text`` (any case); ValueError naming the known ones otherwise."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(state.value for state in cls)
            raise ValueError(f"status {text!r} is not one of {known}") from None

    @property
    def receives(self) -> bool:
        """True when a subscription in this state gets its digest (unless paused)."""
        return self is SubscriptionState.ACTIVE


_KEPT_FROM_LISTS = frozenset({SubscriptionState.UNSUBSCRIBED, SubscriptionState.BOUNCED})
"""States a list or an operator never changes: only the reader's own confirmed
subscription (the web side) leads out of them."""


class SubscriptionChange(StrEnum):
    """Who asks a subscription to change, which decides what it may become.

    ``import``: an operator's list or command; ``request``: the subscribe form, which
    anyone may post for any address; ``confirm``: the address owner, proven by a link
    mailed to the address (the confirmation link, or the token of the preferences page);
    ``unsubscribe``: the subscriber's link or an operator; ``bounce``: the receiving
    server said the mailbox does not exist.
    """

    IMPORT = "import"
    REQUEST = "request"
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"


def subscription_after(
    current: SubscriptionState | None,
    change: SubscriptionChange,
    requested: SubscriptionState = SubscriptionState.ACTIVE,
) -> SubscriptionState:
    """The state a subscription in ``current`` (None: none yet) takes on ``change``.

    The one table of subscription rules:

    * an import sets ``requested``, except that someone who unsubscribed stays
      unsubscribed and a bounced address stays bounced (only the reader's own
      confirmed subscription leads back, never a list);
    * a subscribe-form request makes a new subscription ``pending`` and leaves an
      existing one as it is (the form proves nothing about the address);
    * a confirmation by the address owner makes any subscription ``active``;
    * unsubscribing makes any subscription ``unsubscribed``;
    * a bounce makes a receiving subscription ``bounced`` and leaves others alone.
    """
    if change is SubscriptionChange.IMPORT:
        return current if current in _KEPT_FROM_LISTS else requested
    if change is SubscriptionChange.REQUEST:
        return SubscriptionState.PENDING if current is None else current
    if change is SubscriptionChange.CONFIRM:
        return SubscriptionState.ACTIVE
    if change is SubscriptionChange.BOUNCE:
        if current is None or current.receives:
            return SubscriptionState.BOUNCED
        return current
    return SubscriptionState.UNSUBSCRIBED


def requested_subscription(
    current: SubscriptionState | None, requested: SubscriptionState
) -> SubscriptionState:
    """The state a subscription takes when a list or an operator asks for ``requested``."""
    return subscription_after(current, SubscriptionChange.IMPORT, requested)


def bounced_subscription(current: SubscriptionState) -> SubscriptionState:
    """The state a subscription takes when its mailbox is reported not to exist.

    Only a receiving subscription becomes ``bounced``; an unsubscribed one stays so.
    """
    return subscription_after(current, SubscriptionChange.BOUNCE)


class SendState(StrEnum):
    """Where one message of one edition to one subscriber stands (values as stored).

    * ``sending``: claimed, going out now. One left ``sending`` by a run that
      ended (a crash, a kill) may have gone out: :func:`expired_claim` makes it
      ``uncertain``, never a plain retry.
    * ``sent``: the server accepted it (final).
    * ``deferred``: the server answered 4xx or could not be reached; tried again
      after a backoff until the edition's retry window ends, then ``failed``.
    * ``failed``: refused for good (a 5xx that is not a missing mailbox, such
      as a 5.7.x policy refusal; a message that cannot be built), or still
      deferred when the retry window ended (final).
    * ``bounced``: the mailbox does not exist (5.1.1, 5.1.10, 5.2.1); the
      subscription becomes bounced too (final).
    * ``uncertain``: the message was handed over but the server's answer was
      lost (connection dropped or timed out after the end of DATA), or a run
      died while sending. Resent with the same Message-ID only under the
      digest's ``uncertain: resend`` policy; left alone under ``skip``.
    """

    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    UNCERTAIN = "uncertain"

    @property
    def is_final(self) -> bool:
        """True when nothing may follow this state (the message is never sent again)."""
        return not _SEND_NEXT[self]

    @property
    def delivered(self) -> bool:
        """True when the message went out."""
        return self is SendState.SENT


_SEND_NEXT: dict[SendState | None, frozenset[SendState]] = {
    None: frozenset({SendState.SENDING}),
    SendState.SENDING: frozenset(
        {
            SendState.SENT,
            SendState.DEFERRED,
            SendState.FAILED,
            SendState.BOUNCED,
            SendState.UNCERTAIN,  # the answer was lost, or the claim expired unanswered
        }
    ),
    SendState.DEFERRED: frozenset({SendState.SENDING, SendState.FAILED}),  # failed: window over
    SendState.UNCERTAIN: frozenset({SendState.SENDING}),  # only under `uncertain: resend`
    SendState.SENT: frozenset(),
    SendState.FAILED: frozenset(),
    SendState.BOUNCED: frozenset(),
}


def send_may_follow(current: SendState | None, new: SendState) -> bool:
    """True when a send in ``current`` (None: no send yet) may move to ``new``."""
    return new in _SEND_NEXT[current]


def send_predecessors(new: SendState) -> frozenset[SendState | None]:
    """Every state (None: no send yet) from which a send may move to ``new``."""
    return frozenset(state for state, after in _SEND_NEXT.items() if new in after)


def may_claim(current: SendState | None, *, resend_uncertain: bool = True) -> bool:
    """True when a message in ``current`` may be (re)sent: never tried, deferred, or
    uncertain under the ``resend`` policy (``resend_uncertain``).

    Whether a deferred send's backoff has passed is :meth:`SendRecord.due`'s question.
    """
    if current is SendState.UNCERTAIN and not resend_uncertain:
        return False
    return send_may_follow(current, SendState.SENDING)


def expired_claim(current: SendState | None) -> SendState | None:
    """The state a send takes when its claim expired without an answer (None: unchanged).

    A send left ``sending`` by a run that ended may have gone out: it becomes
    ``uncertain``, and the digest's uncertain policy decides whether it is resent.
    """
    return SendState.UNCERTAIN if current is SendState.SENDING else None


def send_transition(current: SendState | None, new: SendState) -> SendState:
    """Return ``new`` when a send may move there from ``current``; ValueError otherwise."""
    if not send_may_follow(current, new):
        allowed = ", ".join(sorted(_SEND_NEXT[current])) or "nothing (final)"
        was = current.value if current is not None else "no send"
        raise ValueError(f"send state {new.value!r} cannot follow {was!r} (allowed: {allowed})")
    return new


@dataclass(frozen=True)
class SendRecord:
    """What the store holds about one send: its state, attempts and when to try again.

    ``next_attempt_at`` is set on deferred sends; ``error`` is the last failure.
    """

    subscriber_id: int
    state: SendState
    attempts: int
    next_attempt_at: datetime | None = None
    error: str | None = None
    message_id: str | None = None

    def due(self, now: datetime) -> bool:
        """True when a deferred send's backoff has passed (other states: always)."""
        return self.next_attempt_at is None or self.next_attempt_at <= now


@dataclass(frozen=True)
class Subscriber:
    """A person on a list, unique by normalised e-mail address."""

    id: int
    email: str
    name: str = ""


@dataclass(frozen=True)
class Subscription:
    """A subscriber's choice for one digest: which sections, and whether active."""

    subscriber: Subscriber
    digest_id: str
    sections: tuple[str, ...]
    status: SubscriptionState
    token: str
    consent_at: datetime | None = None
    consent_method: str = ""
    paused_until: datetime | None = None

    def __post_init__(self) -> None:
        """Hold the status as a :class:`SubscriptionState` (ValueError for an unknown one)."""
        object.__setattr__(self, "status", SubscriptionState(self.status))

    def receives_at(self, moment: datetime) -> bool:
        """True when the subscription gets an edition of ``moment``: active and not paused then."""
        if not self.status.receives:
            return False
        return self.paused_until is None or as_utc(moment) >= self.paused_until

    def paused_at(self, moment: datetime) -> bool:
        """True when the subscription is active but paused at ``moment``."""
        return self.status.receives and not self.receives_at(moment)


class ConsentMethod(StrEnum):
    """How a subscription's consent was given (kept with its time as the consent record)."""

    IMPORT = "import"
    DOUBLE_OPT_IN = "double-opt-in"
    PREFERENCES = "preferences"


@dataclass(frozen=True)
class Confirmation:
    """A subscribe request waiting for the address owner to open the mailed link.

    The store keeps only the SHA-256 of the link's token; ``sections`` are the
    chosen ones (empty: every section the digest offers).
    """

    digest_id: str
    email: str
    name: str
    sections: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable_at(self, moment: datetime) -> bool:
        """True when the link may still confirm at ``moment``: not used and not expired."""
        return self.used_at is None and as_utc(moment) < self.expires_at


@dataclass(frozen=True)
class Edition:
    """One issue of a digest for one scheduled slot, with its frozen article list.

    ``slot`` is the scheduled time (UTC); ``cutoff_seq`` is the highest ingest
    sequence considered, so the next edition starts after it.
    """

    id: int
    digest_id: str
    slot: datetime
    cutoff_seq: int
    created_at: datetime
    articles: tuple[Article, ...] = ()


@dataclass(frozen=True)
class SectionGroup:
    """The articles of one section inside a digest."""

    section: Section
    articles: tuple[Article, ...]


@dataclass(frozen=True)
class Logo:
    """The masthead logo: an https image URL and the pixels it is shown at."""

    url: str
    width: int
    height: int


@dataclass(frozen=True)
class Publisher:
    """The sender a footer names (정보통신망법 제50조): name, postal address, contact."""

    name: str
    address: str
    contact: str


@dataclass(frozen=True)
class Masthead:
    """What a newsletter says about itself in every message, built once per digest.

    Rendering and composing read these, never the configuration: ``host`` goes into
    Message-ID and List-Id, ``timezone`` dates the slot and the articles,
    ``public_base_url`` makes relative links absolute.

    The look and the legal footer: ``logo``, ``brand_color`` (a validated hex
    colour), ``publisher``, ``advertising`` (subject starts with ``(광고)``), lead
    images at most ``image_size`` (width, height; ``None``: no images),
    ``size_budget`` (bytes of the encoded HTML part) and ``section_links``
    (section id -> where "더 보기" leads when the digest has no archive).
    """

    digest_id: str
    title: str
    sender: str
    reply_to: str | None
    host: str
    public_base_url: str
    timezone: tzinfo
    logo: Logo | None = None
    brand_color: str = ""
    publisher: Publisher | None = None
    advertising: bool = False
    image_size: tuple[int, int] | None = (560, 315)
    size_budget: int = 90_000
    section_links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Digest:
    """What one subscriber receives from one edition: articles grouped by section.

    It carries everything rendering and composing need, so a Digest can be shown
    without a loaded configuration: its ``masthead``, the ``sections`` the
    subscriber chose (display order), their ``unsubscribe_url`` and
    ``preferences_url``, and the edition's ``archive_url`` (its web version; empty
    when the digest is not archived).

    The web version of an edition is a Digest too, for a *public* subscription
    (no address, no name, no token) and without unsubscribe or preferences URL:
    it holds no personal data, so no template can show any.
    """

    edition: Edition
    subscription: Subscription
    groups: tuple[SectionGroup, ...]
    masthead: Masthead
    sections: tuple[Section, ...]
    unsubscribe_url: str
    archive_url: str = ""
    preferences_url: str = ""
    period_start: datetime | None = None
    """First day an edition covering several days covers (a weekly digest's range)."""

    @property
    def title(self) -> str:
        """The newsletter's title."""
        return self.masthead.title

    @property
    def personal(self) -> bool:
        """True for a subscriber's digest, False for the public web version of an edition."""
        return bool(self.subscription.token)

    @property
    def article_count(self) -> int:
        """Number of articles across all groups."""
        return sum(len(g.articles) for g in self.groups)


def public_subscription(digest_id: str) -> Subscription:
    """The subscription of the public web version of ``digest_id``: nobody's, every section."""
    return Subscription(
        subscriber=Subscriber(id=0, email="", name=""),
        digest_id=digest_id,
        sections=(),
        status=SubscriptionState.ACTIVE,
        token="",
    )


PLACEHOLDER_EMAIL = "syndplh-email@syndplh.invalid"
"""Stands for the subscriber's address in a shared :class:`EditionBody`."""
PLACEHOLDER_NAME = "SyndplhName"
"""Stands for the subscriber's name in a shared :class:`EditionBody` (only when they have one)."""
PLACEHOLDER_TOKEN = "SyndplhToken"
"""Stands for the subscription's token (URL-quoted) in a shared :class:`EditionBody`."""


@dataclass(frozen=True)
class EditionBody:
    """The rendered, CSS-inlined body every subscriber of one section set of an edition shares.

    ``variant`` names the set (:func:`body_variant`); ``html`` and ``text`` hold the
    ``PLACEHOLDER_*`` strings where each subscriber's own address, name and token go.
    Stored with the edition, so a resumed edition or another process sends the same.
    """

    variant: str
    subject: str
    html: str
    text: str


def body_variant(digest: Digest) -> str:
    """The key of the body ``digest`` shares with others: its sections, and whether it names
    its reader (a template may greet by name), e.g. ``politics,it|name``."""
    sections = ",".join(section.id for section in digest.sections)
    return sections + ("|name" if digest.subscription.subscriber.name else "")


@dataclass(frozen=True)
class RenderedDigest:
    """A digest rendered to a subject, an HTML body (CSS inlined) and a text body."""

    digest: Digest
    subject: str
    html: str
    text: str


@dataclass
class SourceState:
    """What the store remembers about a source between runs (conditional GET)."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    pages: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per-page validators of page sources: URL -> ``etag``/``last_modified``/``sha256``."""
    location: str | None = None
    """Where the source permanently moved (301/308), in place of ``moved_from``."""
    moved_from: str | None = None
    """The configured location ``location`` replaces (a new configured one drops the move)."""
    next_due_at: datetime | None = None
    """When a failing source may be read again (backoff, ``Retry-After``)."""
    backoff_seconds: int = 0
    """The current backoff interval; 0 while the source succeeds."""
    retired_at: datetime | None = None
    """When the source answered 410 Gone; it is skipped until re-enabled."""
    entries: tuple[str, ...] = ()
    """Fingerprints of the entries of the last successful read (see ``decide.split_known``)."""


@dataclass(frozen=True)
class UpsertResult:
    """Counts from storing a batch of articles.

    ``duplicates``: articles another source had already given (stored once, this
    source remembered beside the first).
    """

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
