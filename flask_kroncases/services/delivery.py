"""Cases Webhook delivery: the outbox, batches per endpoint, retries, disabling, the sweeper, pruning.

The database is the source of truth. A case change writes one delivery row per
subscribed, enabled endpoint in its own transaction (the outbox); after the
commit a job per endpoint concerned is enqueued, unless one for that endpoint is
still waiting in the queue (it will find the new rows when it starts). Which
endpoints are enabled, and what they subscribe to, is kept in memory (see
:meth:`DeliveryService.subscribed`), and the outbox rows are written by one
statement that reads each endpoint row again, so a row is never written for an
endpoint disabled or deleted meanwhile. That job
sends the endpoint's due deliveries in batches: it claims up to
:attr:`DeliveryService.batch_size` rows in one statement, sends them one after
another over one kept-alive connection to the address checked at the start of
the batch (:class:`~flask_kroncases.webhooks.Sender`), and records the attempts
in bulk. Whatever Redis loses, the sweeper finds again in the database.

One job at a time sends to an endpoint (a lock in Redis), and a job makes way
for the other endpoints after :attr:`DeliveryService.batch_seconds` (it queues a
successor at the back of the queue), so a slow or failing receiver occupies at
most one worker, and that one only by turns.

A claim is a compare-and-set update and a lease: it lasts :func:`lease_seconds`,
longer than the sender's hard deadline for one attempt, and a batch renews the
lease of its remaining rows whenever the next attempt could outlast it, so an
attempt still running always holds its lease. A lease that ran out therefore
means its worker died: the lease check (:meth:`DeliveryService.reclaim`, every
few seconds in each worker) takes the deliveries back, logs their attempt as
lost and enqueues them at once. Results are recorded every
:attr:`DeliveryService.flush_every` attempts or :attr:`DeliveryService.flush_seconds`,
and after any attempt that did not deliver; a worker killed in between loses
those results, and the receiver sees those events again (at least once).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urljoin

import sqlalchemy as sa
from flask import current_app

from .. import signals
from ..enums import CLAIMABLE, AttemptOutcome, DeliveryStatus
from ..hooks import HostHooks
from ..jobs import deliver_endpoint
from ..models import Models, as_utc, utcnow
from ..queueing import EnqueueError, JobLock, JobQueue
from ..webhooks import Sender, SendResult, build_headers, classify, next_delay, redact_url, serialize
from .base import Service
from .serialization import describe_case, json_key

log = logging.getLogger("flask_kroncases.webhooks")

#: Seconds a default lease adds to the longest attempt: the few steps around the
#: send (loading the row, signing) and some clock skew between worker machines.
LEASE_MARGIN = 5.0

LOST_MESSAGE = "The worker stopped before the attempt finished."
DISABLED_MESSAGE = "Not sent: the endpoint is disabled."
GONE_MESSAGE = "Not sent: the endpoint was deleted."

#: Delivery statuses the log keeps only for ``KRONCASES_WEBHOOK_LOG_RETENTION``.
SETTLED: tuple[DeliveryStatus, ...] = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


def lease_seconds(config: Mapping[str, Any]) -> float:
    """How long a claim lasts: ``KRONCASES_WEBHOOK_CLAIM_TIMEOUT``, or the longest attempt plus a margin.

    Raises ValueError for a timeout an attempt could outlast (connect + read
    timeouts): that attempt would be sent again while still in flight.
    """
    longest = longest_attempt(config)
    configured = config["KRONCASES_WEBHOOK_CLAIM_TIMEOUT"]
    if configured is None:
        return longest + LEASE_MARGIN
    if float(configured) <= longest:
        raise ValueError(
            f"KRONCASES_WEBHOOK_CLAIM_TIMEOUT ({configured:g} s) must exceed KRONCASES_WEBHOOK_CONNECT_TIMEOUT"
            f" + KRONCASES_WEBHOOK_READ_TIMEOUT ({longest:g} s), the longest one attempt can take;"
            " None picks a safe value."
        )
    return float(configured)


def longest_attempt(config: Mapping[str, Any]) -> float:
    """The sender's hard deadline for one attempt: connect + read timeout."""
    return float(config["KRONCASES_WEBHOOK_CONNECT_TIMEOUT"]) + float(config["KRONCASES_WEBHOOK_READ_TIMEOUT"])


class Claim(NamedTuple):
    """A delivery a job holds for one attempt: what it needs to send it."""

    id: int
    #: The number of this attempt (the row's ``attempts`` after the claim); with the id, it names the lease.
    number: int
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class EndpointView:
    """What sending needs of an endpoint, read once, so no transaction stays open while sending."""

    id: int
    url: str
    enabled: bool
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None

    @classmethod
    def of(cls, endpoint: Any) -> EndpointView:
        return cls(endpoint.id, endpoint.url, bool(endpoint.enabled), endpoint.secret, endpoint.previous_secret,
                   endpoint.previous_secret_expires_at, endpoint.failing_since)


@dataclass(frozen=True)
class Subscription:
    """An enabled endpoint as the outbox needs it: its id and the events it takes."""

    id: int
    events: frozenset[str]


@dataclass(frozen=True)
class Attempt:
    claim: Claim
    result: SendResult
    started: datetime
    finished: datetime


@dataclass(frozen=True)
class Written:
    """Results written in a transaction, for what follows its commit."""

    attempts: list[Attempt]
    verdicts: list[AttemptOutcome]
    #: The endpoint as it now stands (None: deleted).
    endpoint: EndpointView | None
    #: The endpoint row, when these results disabled it, and why.
    disabled: Any
    disabled_reason: str | None


class DeliveryService(Service):
    """Outbox rows and their delivery, for one app."""

    #: Most deliveries one claim takes (one statement).
    batch_size = 100
    #: Seconds a job keeps sending to one endpoint before it makes way for the others.
    batch_seconds = 2.0
    #: Attempts recorded together at most, and the longest a result waits to be recorded.
    flush_every = 100
    flush_seconds = 0.5
    #: Rows one pruning statement deletes at most, and statements per sweep.
    prune_batch_size = 1000
    prune_batches = 20
    #: Seconds the enabled endpoints stay in memory (0: read them for every event). Changes
    #: made through :class:`~.endpoints.EndpointService` in this process are seen at once;
    #: another process's new endpoints and subscriptions within this time.
    endpoint_cache_seconds = 5.0
    #: Most outbox rows one statement writes.
    outbox_batch_size = 100

    def __init__(self, db: Any, models: Models, hooks: HostHooks, jobs: JobQueue) -> None:
        super().__init__(db, models)
        self.hooks = hooks
        self.jobs = jobs
        self.rng = random.Random()
        self._endpoints_lock = threading.Lock()
        self._endpoints_generation = 0
        #: When the enabled endpoints were read (``time.monotonic()``), and what was read.
        self._endpoints_cached: tuple[float, tuple[Subscription, ...]] | None = None

    def active_secrets(self, endpoint: Any, now: datetime | None = None) -> list[str]:
        """The secrets that sign now, newest first."""
        now = now or utcnow()
        secrets = [endpoint.secret]
        expires = as_utc(endpoint.previous_secret_expires_at)
        if endpoint.previous_secret and expires and expires > now:
            secrets.append(endpoint.previous_secret)
        return secrets

    # -- the outbox ----------------------------------------------------------

    def record_event(self, event_type: str, case: Any, actor: Any, **extra: Any) -> list[int]:
        """Write a delivery for each subscribed, enabled endpoint in the *current* transaction.

        Returns the ids of the endpoints that got one, for :meth:`dispatch_to`
        after the commit. No statement at all when no endpoint takes the event
        (as :meth:`subscribed` remembers it); else one per
        :attr:`outbox_batch_size` endpoints.
        """
        endpoint_ids = self.subscribed(event_type)
        if not endpoint_ids:
            return []
        url = self.conversation_url(case.conversation)
        data = {
            "case": describe_case(case, conversation_url=url, case_url=self.case_url(case.id),
                                  name_of=self.hooks.display_name),
            "conversation": {"id": json_key(case.conversation_id), "url": url},
            # None for what the worker's sweep did on its own (case.overdue).
            "actor": None if actor is None else {
                "id": json_key(self.models.host.user.key_of(actor)), "name": self.hooks.display_name(actor),
            },
            **extra,
        }
        now = utcnow()
        written: list[int] = []
        for start in range(0, len(endpoint_ids), self.outbox_batch_size):
            batch = endpoint_ids[start : start + self.outbox_batch_size]
            written += self._write_outbox(batch, event_type, case.id, data, now)
        return written

    def _write_outbox(
        self, endpoint_ids: list[int], event_type: str, case_id: Any, data: dict[str, Any], now: datetime
    ) -> list[int]:
        """One ``INSERT ... SELECT`` of a delivery per endpoint, each taken from the endpoint's row.

        Each row's ``SELECT`` reads its endpoint row with ``enabled`` true, so
        an endpoint disabled or deleted since :meth:`subscribed` remembered it
        gets no row (and no foreign key error), whatever the cache says.
        """
        Endpoint, Delivery = self.models.WebhookEndpoint, self.models.WebhookDelivery
        table = Delivery.__table__

        def value(column: str, given: Any) -> Any:
            return sa.literal(given, table.c[column].type)

        rows = []
        for endpoint_id in endpoint_ids:
            event_id, body = self.event_body(event_type, data, now)
            rows.append(
                sa.select(Endpoint.id, value("event_id", event_id), value("event_type", event_type),
                          value("case_id", case_id), value("body", body),
                          value("status", DeliveryStatus.PENDING.value), value("attempts", 0),
                          value("created_at", now))
                .where(Endpoint.id == endpoint_id, Endpoint.enabled.is_(True))
            )
        names = ["endpoint_id", "event_id", "event_type", "case_id", "body", "status", "attempts", "created_at"]
        source = rows[0] if len(rows) == 1 else sa.union_all(*rows)
        insert = sa.insert(table).from_select(names, source).returning(table.c.endpoint_id)
        return list(self.session.scalars(insert))

    def subscribed(self, event_type: str) -> list[int]:
        """The enabled endpoints that take ``event_type``, by id, as this process last read them.

        Read at most every :attr:`endpoint_cache_seconds`, and again after any
        change made through this app's endpoint service in this process
        (:meth:`forget_endpoints`). Another process's changes are seen within
        that time: a new or re-enabled endpoint or a new subscription may miss
        the events of those few seconds; a disabled or deleted endpoint never
        gets another row (:meth:`_write_outbox` reads its row again).
        """
        return [e.id for e in self._enabled_endpoints() if event_type in e.events]

    def forget_endpoints(self) -> None:
        """Drop the remembered endpoints; call after committing a change to one."""
        with self._endpoints_lock:
            self._endpoints_generation += 1
            self._endpoints_cached = None

    def _enabled_endpoints(self) -> tuple[Subscription, ...]:
        cached = self._endpoints_cached
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.endpoint_cache_seconds:
            return cached[1]
        generation = self._endpoints_generation
        Endpoint = self.models.WebhookEndpoint
        rows = self.session.execute(
            sa.select(Endpoint.id, Endpoint.events).where(Endpoint.enabled.is_(True)).order_by(Endpoint.id)
        )
        found = tuple(Subscription(endpoint_id, frozenset(events or ())) for endpoint_id, events in rows)
        with self._endpoints_lock:
            # Not kept when an endpoint changed while this was read: the read may predate that change.
            if generation == self._endpoints_generation:
                self._endpoints_cached = (now, found)
        return found

    def event_body(self, event_type: str, data: dict[str, Any], now: datetime) -> tuple[str, bytes]:
        """A new event id and the exact bytes that are signed and sent."""
        event_id = "evt_" + uuid.uuid4().hex
        return event_id, serialize({"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data})

    def new_delivery(self, endpoint: Any, event_type: str, case_id: Any, data: dict[str, Any], now: datetime) -> Any:
        event_id, body = self.event_body(event_type, data, now)
        return self.models.WebhookDelivery(
            endpoint_id=endpoint.id, event_id=event_id, event_type=event_type, case_id=case_id,
            body=body, status=DeliveryStatus.PENDING, attempts=0, created_at=now,
        )

    def conversation_url(self, conversation: Any) -> str | None:
        """An absolute link to the conversation, for receivers outside the helpdesk."""
        try:
            url = self.hooks.url_for_conversation(conversation)
        except Exception:  # the host's builder may need a request; a link is not worth an error
            log.warning("conversation_url hook failed", exc_info=True)
            return None
        return self.absolute(url)

    def case_url(self, case_id: Any) -> str | None:
        """A link to the case page (None when the host turned the pages off).

        Built from ``KRONCASES_URL_PREFIX``, not ``url_for``: the worker's sweep
        has no request to build from.
        """
        if not self.config["KRONCASES_REGISTER_PAGES"]:
            return None
        return self.absolute(self.config["KRONCASES_URL_PREFIX"].rstrip("/") + f"/cases/{case_id}")

    def absolute(self, url: str | None) -> str | None:
        """``url`` joined to ``KRONCASES_BASE_URL`` when it is relative and a base is set."""
        if not url or "://" in url:
            return url
        # Never the request's Host header: a forged one would end up in a signed body.
        base: str | None = self.config["KRONCASES_BASE_URL"]
        if base:
            return urljoin(base.rstrip("/") + "/", url.lstrip("/"))
        return url

    # -- jobs ------------------------------------------------------------------

    def dispatch(self, deliveries: Iterable[Any]) -> None:
        """After commit: a job for each endpoint concerned, unless one waits already.

        A failure leaves the deliveries pending for the sweeper.
        """
        self.dispatch_to(delivery.endpoint_id for delivery in deliveries)

    def dispatch_to(self, endpoint_ids: Iterable[int]) -> None:
        """After commit: a job for each of these endpoints, unless one waits already."""
        for endpoint_id in dict.fromkeys(endpoint_ids):
            self.dispatch_endpoint(endpoint_id)

    def dispatch_endpoint(self, endpoint_id: int, *, force: bool = False) -> bool:
        """Queue a job for the endpoint's due deliveries (one waiting job serves them all)."""
        try:
            self.jobs.enqueue_once(f"deliver:{endpoint_id}", deliver_endpoint, endpoint_id,
                                   job_timeout=self._job_timeout(), force=force)
        except EnqueueError as exc:
            log.warning("webhook endpoint %s: what is due for it stays pending until the next sweep: %s",
                        endpoint_id, exc)
            return False
        return True

    def _wake(self, endpoint_id: int, delay: float) -> None:
        """Have a job look at the endpoint in ``delay`` seconds (unless one is due by then already)."""
        if delay <= 0:
            self.dispatch_endpoint(endpoint_id)
            return
        try:
            self.jobs.enqueue_once(f"wake:{endpoint_id}", deliver_endpoint, endpoint_id, delay=delay,
                                   job_timeout=self._job_timeout())
        except EnqueueError as exc:
            log.warning("deliveries to endpoint %s wait for the next sweep: %s", endpoint_id, exc)

    def _job_timeout(self) -> int:
        """RQ's limit for a delivery job: its turn, then the longest attempt, with room to spare."""
        return int(max(180.0, self.batch_seconds + 2 * lease_seconds(self.config) + 60))

    def _follow_up(self, endpoint_id: int) -> None:
        """After a job: a job now for what is due, else a wake-up at the next retry."""
        Delivery = self.models.WebhookDelivery
        earliest = self.session.execute(
            sa.select(Delivery.next_attempt_at)
            .where(Delivery.endpoint_id == endpoint_id, Delivery.status.in_(CLAIMABLE))
            .order_by(Delivery.next_attempt_at.asc().nulls_first())
            .limit(1)
        ).first()
        self.session.commit()
        if earliest is None:
            return
        when = as_utc(earliest[0])
        self._wake(endpoint_id, 0 if when is None else (when - utcnow()).total_seconds())

    # -- claiming --------------------------------------------------------------

    def claim(self, delivery_id: int, now: datetime) -> bool:
        """Take the delivery for one attempt (a lease from ``now``), or learn that someone else has it."""
        Delivery = self.models.WebhookDelivery
        result = self.session.execute(
            sa.update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status.in_(CLAIMABLE),
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        return bool(result.rowcount == 1)

    def claim_batch(self, endpoint_id: int, now: datetime, limit: int) -> list[Claim]:
        """Take up to ``limit`` due deliveries of one endpoint, oldest first, in one statement.

        On PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, so two
        claimers at once take different rows instead of waiting for each other;
        SQLite runs one writing statement at a time, and the update checks the
        status again, so a row is never claimed twice there either.
        """
        return self._claim(endpoint_id, now, limit)[0]

    def _claim(
        self, endpoint_id: int, now: datetime, limit: int, results: list[Attempt] | None = None,
        known: EndpointView | None = None,
    ) -> tuple[list[Claim], EndpointView | None]:
        """:meth:`claim_batch`, and the endpoint as it stands, read in the same transaction.

        ``results`` of the previous batch are written in that transaction too:
        one commit (one disk flush on PostgreSQL) per batch instead of two.
        """
        written = self._write(endpoint_id, results, known) if results else None
        Delivery = self.models.WebhookDelivery
        due = (
            sa.select(Delivery.id)
            .where(
                Delivery.endpoint_id == endpoint_id,
                Delivery.status.in_(CLAIMABLE),
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .order_by(Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()), Delivery.status.in_(CLAIMABLE))
            .values(status=DeliveryStatus.SENDING, claimed_at=now, attempts=Delivery.attempts + 1)
            .returning(Delivery.id, Delivery.attempts, Delivery.event_id, Delivery.event_type, Delivery.body)
            .execution_options(synchronize_session=False)
        ).all()
        endpoint = self._endpoint_view(endpoint_id) if rows else None
        self.session.commit()  # end the transaction: hold nothing open while sending
        if written is not None:
            self._announce(written)
        return sorted(Claim(*row) for row in rows), endpoint

    def _held(self, claims: list[Claim]) -> Any:
        """SQL: these claims' rows, still under the leases of these very attempts."""
        Delivery = self.models.WebhookDelivery
        return sa.and_(
            Delivery.id.in_([c.id for c in claims]),  # for the primary key's index: a row-value IN may not use it
            Delivery.status == DeliveryStatus.SENDING,
            sa.tuple_(Delivery.id, Delivery.attempts).in_([(c.id, c.number) for c in claims]),
        )

    def _renew(self, claims: list[Claim]) -> list[Claim]:
        """Start the leases of ``claims`` afresh; return those still held (a stalled job may have lost some)."""
        if not claims:
            return []
        Delivery = self.models.WebhookDelivery
        held = set(self.session.scalars(
            sa.update(Delivery).where(self._held(claims)).values(claimed_at=utcnow())
            .returning(Delivery.id).execution_options(synchronize_session=False)
        ))
        self.session.commit()
        return [c for c in claims if c.id in held]

    def _keep(self, claims: list[Claim]) -> set[int]:
        """End the leases of ``claims`` (their attempts are over); return the ids whose lease was still theirs.

        Only a lease that ran out (a worker taken for dead) is lost, so this
        misses a row only when a stalled worker wakes up after the lease check.
        The rows stay locked until the transaction ends, with the results in it.
        """
        Delivery = self.models.WebhookDelivery
        return set(self.session.scalars(
            sa.update(Delivery).where(self._held(claims)).values(claimed_at=None)
            .returning(Delivery.id).execution_options(synchronize_session=False)
        ))

    def _release(self, claims: list[Claim]) -> None:
        """Hand back claimed deliveries that were not attempted, as they were; the attempt does not count."""
        Delivery = self.models.WebhookDelivery
        for status, group in ((DeliveryStatus.PENDING, [c for c in claims if c.number == 1]),
                              (DeliveryStatus.RETRYING, [c for c in claims if c.number > 1])):
            if group:
                self.session.execute(
                    sa.update(Delivery).where(self._held(group))
                    .values(status=status, attempts=Delivery.attempts - 1, claimed_at=None)
                    .execution_options(synchronize_session=False)
                )
        self.session.commit()

    def _fail_unsent(self, claims: list[Claim], reason: str) -> None:
        """Fail claimed deliveries without an attempt: their endpoint is disabled or gone."""
        Delivery = self.models.WebhookDelivery
        if claims:
            self.session.execute(
                sa.update(Delivery).where(self._held(claims))
                .values(status=DeliveryStatus.FAILED, attempts=Delivery.attempts - 1, last_error=reason,
                        claimed_at=None, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
        self.session.commit()

    # -- sending -------------------------------------------------------------

    def deliver(self, delivery_id: int) -> AttemptOutcome:
        """One attempt at one delivery; returns what became of it.

        The batch job (:meth:`deliver_endpoint`) is how deliveries go out; this is
        for one delivery by hand, and for jobs queued before batches existed.
        """
        now = utcnow()
        if not self.claim(delivery_id, now):
            return AttemptOutcome.SKIPPED
        Delivery = self.models.WebhookDelivery
        row = self.session.execute(
            sa.select(Delivery.id, Delivery.attempts, Delivery.event_id, Delivery.event_type, Delivery.body,
                      Delivery.endpoint_id)
            .where(Delivery.id == delivery_id)
        ).one()
        claim = Claim(*row[:5])
        endpoint = self._endpoint_view(row.endpoint_id)
        self.session.commit()  # end the read transaction: hold nothing open while sending
        if endpoint is None or not endpoint.enabled:
            self._fail_unsent([claim], GONE_MESSAGE if endpoint is None else DISABLED_MESSAGE)
            return AttemptOutcome.FAILED
        with self._sender(endpoint) as sender:
            attempt = self._attempt(sender, endpoint, claim, now)
        [verdict], _ = self._record(endpoint.id, [attempt])
        if verdict == AttemptOutcome.RETRY:
            self._follow_up(endpoint.id)
        return verdict

    def deliver_endpoint(self, endpoint_id: int) -> int:
        """The job: send the endpoint's due deliveries in batches; return how many attempts were made.

        Only one job at a time sends to an endpoint. Another one arriving
        meanwhile leaves at once: the one sending looks for due deliveries again
        before it ends, and should it have died, its lock runs out and the
        newcomer's wake-up comes then.
        """
        lock = self.jobs.lock(f"endpoint:{endpoint_id}", lease_seconds(self.config))
        if not lock.acquire():
            wait = lock.remaining()
            if wait > 0:
                self._wake(endpoint_id, wait + 0.2)
            return 0
        made = 0
        turn_ends = time.monotonic() + self.batch_seconds
        results: list[Attempt] = []  # the last batch's, written with the next claim
        endpoint: EndpointView | None = None
        try:
            while time.monotonic() < turn_ends:
                leased_until = time.monotonic() + lease_seconds(self.config)
                claims, endpoint = self._claim(endpoint_id, utcnow(), self.batch_size, results, endpoint)
                results = []
                if not claims:
                    break
                if endpoint is None or not endpoint.enabled:
                    self._fail_unsent(claims, GONE_MESSAGE if endpoint is None else DISABLED_MESSAGE)
                    continue
                sent, results = self._send_batch(endpoint, claims, lock, leased_until, turn_ends)
                made += sent
                if len(claims) < self.batch_size:
                    break  # that was all; what came meanwhile, the follow-up finds
            self._record(endpoint_id, results, endpoint)
        finally:
            lock.release()
        # Deliveries committed or come due while this job held the lock: a job
        # at the back of the queue (the other endpoints go first), or a wake-up.
        self._follow_up(endpoint_id)
        return made

    def _endpoint_view(self, endpoint_id: int) -> EndpointView | None:
        endpoint = self.session.get(self.models.WebhookEndpoint, endpoint_id)
        return None if endpoint is None else EndpointView.of(endpoint)

    def _sender(self, endpoint: EndpointView) -> Sender:
        config = self.config
        return Sender(
            endpoint.url,
            allow_private=config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"],
            connect_timeout=float(config["KRONCASES_WEBHOOK_CONNECT_TIMEOUT"]),
            read_timeout=float(config["KRONCASES_WEBHOOK_READ_TIMEOUT"]),
            max_response_bytes=int(config["KRONCASES_WEBHOOK_MAX_RESPONSE_BYTES"]),
        )

    def _attempt(self, sender: Sender, endpoint: EndpointView, claim: Claim, started: datetime) -> Attempt:
        headers = build_headers(
            event_type=claim.event_type,
            event_id=claim.event_id,
            delivery_id=str(claim.id),
            body=claim.body,
            secrets=self.active_secrets(endpoint, started),
            timestamp=int(time.time()),
            user_agent=self.config["KRONCASES_WEBHOOK_USER_AGENT"],
        )
        result = sender.send(claim.body, headers)
        return Attempt(claim, result, started, utcnow())

    def _send_batch(
        self, endpoint: EndpointView, claims: list[Claim], lock: JobLock, leased_until: float, turn_ends: float
    ) -> tuple[int, list[Attempt]]:
        """Send claimed deliveries of one endpoint in order over one connection.

        Returns the number of attempts made and the last ones, not yet recorded
        (the caller writes them with its next claim). Stops early, handing back
        what it did not send, when the job's turn is over (after one attempt at
        least), or when the endpoint was disabled or its URL changed meanwhile.
        """
        endpoint_id = endpoint.id
        lease = lease_seconds(self.config)
        longest = longest_attempt(self.config)
        # An attempt may start only while its lease outlasts it, with a second (or half the margin) to spare.
        needed = longest + min(1.0, (lease - longest) / 2)
        waiting = list(claims)
        done: list[Attempt] = []
        oldest = 0.0
        made = 0
        with self._sender(endpoint) as sender:
            while waiting:
                if made and time.monotonic() >= turn_ends:
                    break
                if leased_until - time.monotonic() < needed:
                    self._record(endpoint_id, done, endpoint)
                    done = []
                    renewed_at = time.monotonic()
                    waiting = self._renew(waiting)
                    leased_until = renewed_at + lease
                    lock.extend()
                    continue
                if lock.expires - time.monotonic() < needed:
                    lock.extend()
                claim = waiting.pop(0)
                attempt = self._attempt(sender, endpoint, claim, utcnow())
                made += 1
                if not done:
                    oldest = time.monotonic()
                done.append(attempt)
                if (len(done) >= self.flush_every or time.monotonic() - oldest >= self.flush_seconds
                        or classify(attempt.result) != AttemptOutcome.DELIVERED):
                    _, fresh = self._record(endpoint_id, done)
                    done = []
                    if fresh is None or not fresh.enabled or fresh.url != endpoint.url:
                        break  # the rest goes out (or fails) in the next batch
                    endpoint = fresh
        if waiting:
            self._record(endpoint_id, done, endpoint)
            self._release(waiting)
            done = []
        return made, done

    def _record(
        self, endpoint_id: int, attempts: list[Attempt], known: EndpointView | None = None
    ) -> tuple[list[AttemptOutcome], EndpointView | None]:
        """Write the attempts' results in one transaction: the log rows, the deliveries, the endpoint.

        A result whose lease was taken back meanwhile (its job was taken for
        dead) is not kept: its verdict is ``lost``. Returns the verdicts, in
        order, and the endpoint as it now stands.
        """
        if not attempts:
            return [], known
        written = self._write(endpoint_id, attempts, known)
        self.session.commit()
        self._announce(written)
        return written.verdicts, written.endpoint

    def _write(self, endpoint_id: int, attempts: list[Attempt], known: EndpointView | None) -> Written:
        """:meth:`_record` up to the commit.

        Given the endpoint as ``known`` at the start of the batch, a run of
        deliveries to a healthy endpoint leaves it unread (nothing on it changes).
        """
        Delivery = self.models.WebhookDelivery
        kept = self._keep([a.claim for a in attempts])
        endpoint: Any = None
        if known is None or known.failing_since is not None or any(
            classify(a.result) != AttemptOutcome.DELIVERED for a in attempts
        ):
            endpoint = self.session.get(self.models.WebhookEndpoint, endpoint_id)
            if endpoint is None:
                known = None
        schedule = tuple(self.config["KRONCASES_WEBHOOK_RETRY_SCHEDULE"])
        limit = float(self.config["KRONCASES_WEBHOOK_DISABLE_AFTER"])
        verdicts: list[AttemptOutcome] = []
        log_rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        disabled_reason: str | None = None
        for attempt in attempts:
            claim, result, finished = attempt.claim, attempt.result, attempt.finished
            if claim.id not in kept:
                verdicts.append(AttemptOutcome.LOST)
                continue
            verdict = classify(result)
            delay: float | None = None
            if verdict == AttemptOutcome.RETRY:
                delay = next_delay(claim.number, schedule, rng=self.rng, retry_after=result.retry_after)
                if delay is None:
                    verdict = AttemptOutcome.FAILED
            log_rows.append({
                "delivery_id": claim.id, "number": claim.number, "started_at": attempt.started,
                "status_code": result.status_code, "latency_ms": result.latency_ms,
                "response_excerpt": result.response_excerpt or None, "error": result.error, "outcome": verdict,
            })
            update: dict[str, Any] = {
                "id": claim.id, "last_status_code": result.status_code, "last_latency_ms": result.latency_ms,
                "last_response_excerpt": result.response_excerpt or None, "last_error": result.error,
                "claimed_at": None,
            }
            if verdict == AttemptOutcome.DELIVERED:
                update.update(status=DeliveryStatus.DELIVERED, delivered_at=finished, next_attempt_at=None)
            elif verdict == AttemptOutcome.RETRY:
                update.update(status=DeliveryStatus.RETRYING, next_attempt_at=finished + timedelta(seconds=delay or 0))
            else:
                update.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
                if verdict == AttemptOutcome.FAILED and not result.refused:
                    update["last_error"] = (result.error or f"HTTP {result.status_code}") + (
                        f" — gave up after {claim.number} attempts."
                    )
            updates.append(update)
            verdicts.append(verdict)
            if endpoint is not None:
                reason = self._judge_endpoint(endpoint, verdict, result, attempt.started, finished, limit)
                if reason and endpoint.enabled:
                    endpoint.enabled = False
                    endpoint.disabled_reason = disabled_reason = reason
        if log_rows:
            self.session.execute(sa.insert(self.models.WebhookAttempt), log_rows)
        if updates:
            self.session.execute(sa.update(Delivery), updates)
        fresh = known if endpoint is None else EndpointView.of(endpoint)
        return Written(attempts, verdicts, fresh, endpoint if disabled_reason else None, disabled_reason)

    def _announce(self, written: Written) -> None:
        """After the commit: log each attempt, and tell the host about an endpoint this disabled."""
        url = redact_url(written.endpoint.url) if written.endpoint is not None else "a deleted endpoint"
        for attempt, verdict in zip(written.attempts, written.verdicts, strict=True):
            claim, result = attempt.claim, attempt.result
            if verdict == AttemptOutcome.LOST:
                log.warning("delivery %s: attempt %s ended after its lease was taken back; its result (%s) is not kept",
                            claim.id, claim.number, result.error or f"HTTP {result.status_code}")
            else:
                log.info("delivery %s (%s, attempt %s) to %s: %s", claim.id, claim.event_type, claim.number, url,
                         verdict)
        if written.disabled_reason and written.disabled is not None:
            self.forget_endpoints()
            log.warning("webhook endpoint %s (%s) disabled: %s", written.disabled.id, url, written.disabled_reason)
            signals.webhook_endpoint_disabled.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                endpoint=written.disabled,
                reason=written.disabled_reason,
            )

    def _judge_endpoint(
        self, endpoint: Any, verdict: AttemptOutcome, result: SendResult, started: datetime, finished: datetime,
        limit: float,
    ) -> str | None:
        """Track the endpoint's run of failures; the reason to disable it, if this attempt gives one."""
        if verdict == AttemptOutcome.DELIVERED:
            endpoint.failing_since = None
            return None
        if verdict == AttemptOutcome.DISABLE:
            return f"The receiver answered 410 Gone on {finished:%Y-%m-%d %H:%M} UTC."
        failing_since = as_utc(endpoint.failing_since) or started
        endpoint.failing_since = failing_since
        if (finished - failing_since).total_seconds() >= limit:
            return (
                f"Every attempt failed since {failing_since:%Y-%m-%d %H:%M} UTC "
                f"(last: {result.error or f'HTTP {result.status_code}'})."
            )
        return None

    # -- the lease check, the sweeper, pruning -----------------------------

    def reclaim(self) -> list[int]:
        """Take back every delivery whose lease ran out and enqueue it; return the ids enqueued.

        An attempt never outlives its lease (the sender cuts it off first, and a
        batch renews its leases before they could run out), so a lease that ran
        out means its worker died: the delivery goes straight back to the queue,
        whatever RQ still lists for that worker.
        """
        Delivery = self.models.WebhookDelivery
        now = utcnow()
        expired = now - timedelta(seconds=lease_seconds(self.config))
        lost = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < expired)
            .values(status=DeliveryStatus.RETRYING, next_attempt_at=now, claimed_at=None, last_error=LOST_MESSAGE)
            .returning(Delivery.id, Delivery.attempts, Delivery.endpoint_id)
            .execution_options(synchronize_session=False)
        ).all()
        # Every attempt is logged, also the one a killed worker never finished.
        if lost:
            self.session.execute(sa.insert(self.models.WebhookAttempt), [
                {"delivery_id": delivery_id, "number": number, "started_at": now, "error": LOST_MESSAGE,
                 "outcome": AttemptOutcome.LOST}
                for delivery_id, number, _ in lost
            ])
        self.session.commit()
        if not lost:
            return []
        ids = sorted(delivery_id for delivery_id, _, _ in lost)
        log.warning("took back %d deliveries whose worker stopped mid-attempt: %s", len(ids), ids)
        endpoint_of = {delivery_id: endpoint_id for delivery_id, _, endpoint_id in lost}
        queued = {e for e in sorted(set(endpoint_of.values())) if self.dispatch_endpoint(e)}
        return [delivery_id for delivery_id in ids if endpoint_of[delivery_id] in queued]

    def sweep(self) -> int:
        """Take back lost leases, then queue a job for every endpoint with due deliveries that no job
        will send; return how many due deliveries were handed to jobs so."""
        reclaimed = self.reclaim()
        Delivery = self.models.WebhookDelivery
        now = utcnow()
        due = self.session.execute(
            sa.select(Delivery.endpoint_id, sa.func.count())
            .where(
                Delivery.status.in_(CLAIMABLE),
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .group_by(Delivery.endpoint_id)
            .order_by(Delivery.endpoint_id)
        ).all()
        self.session.commit()
        held = self._held_by_jobs(overdue_before=now - timedelta(seconds=lease_seconds(self.config)))
        enqueued = len(reclaimed)
        for endpoint_id, count in due:
            if endpoint_id in held:
                continue
            if not self.dispatch_endpoint(endpoint_id, force=True):
                log.warning("sweep stopped, the queue is unreachable")
                break
            enqueued += count
        return enqueued

    def _held_by_jobs(self, *, overdue_before: datetime) -> set[int]:
        """Endpoint ids that a queued, scheduled or running RQ job will send to.

        A scheduled job still waiting since before ``overdue_before`` has no
        scheduler to move it (its worker died; RQ hands the scheduler over only
        every few minutes): it holds nothing, and the claims stop a late double
        send. Only RQ's public API is used.
        """
        if self.jobs.runner != "rq":
            return set()
        from redis.exceptions import RedisError
        from rq.job import Job

        try:
            queue = self.jobs.rq_queue()
            ids: list[str] = list(queue.get_job_ids())
            scheduled = queue.scheduled_job_registry
            waiting = scheduled.get_job_ids()
            if waiting:
                stranded = set(scheduled.get_jobs_to_schedule(timestamp=int(overdue_before.timestamp()),
                                                               chunk_size=len(waiting)))
                ids += [job_id for job_id in waiting if job_id not in stranded]
            ids += queue.started_job_registry.get_job_ids()
            held: set[int] = set()
            for job in Job.fetch_many(ids, connection=self.jobs.connection):
                if job is not None and (job.func_name or "").endswith(deliver_endpoint.__name__) and job.args:
                    held.add(int(job.args[0]))
            return held
        except RedisError:
            return set()

    def prune(self, now: datetime | None = None) -> int:
        """Delete delivered and failed deliveries older than ``KRONCASES_WEBHOOK_LOG_RETENTION``,
        with their attempts, in batches; return how many deliveries went.

        "Older" means made before the cutoff and not delivered since (a delivery
        redelivered by hand counts from its delivery). Pending, retrying and
        sending ones are never touched, whatever their age. At most
        :attr:`prune_batches` statements of :attr:`prune_batch_size` rows each
        run per call (one transaction each), so a large backlog goes over several sweeps.
        """
        retention = self.config["KRONCASES_WEBHOOK_LOG_RETENTION"]
        if retention is None:
            return 0
        cutoff = (now or utcnow()) - retention
        Delivery = self.models.WebhookDelivery
        Attempt = self.models.WebhookAttempt
        old = sa.and_(
            Delivery.status.in_(SETTLED),
            Delivery.created_at < cutoff,
            sa.or_(Delivery.delivered_at.is_(None), Delivery.delivered_at < cutoff),
        )
        pruned = 0
        for _ in range(self.prune_batches):
            ids = list(self.session.scalars(
                sa.select(Delivery.id).where(old).order_by(Delivery.id).limit(self.prune_batch_size)
            ))
            gone: list[int] = []
            if ids:
                gone = list(self.session.scalars(
                    sa.delete(Delivery).where(Delivery.id.in_(ids), old).returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                ))
            if gone:  # the foreign key cascades too, but SQLite enforces it only with its pragma on
                self.session.execute(
                    sa.delete(Attempt).where(Attempt.delivery_id.in_(gone))
                    .execution_options(synchronize_session=False)
                )
            self.session.commit()
            pruned += len(gone)
            if len(ids) < self.prune_batch_size:
                break
        if pruned:
            log.info("pruned %d webhook deliveries older than %s from the log", pruned, retention)
        return pruned

    # -- the worker ----------------------------------------------------------

    def warm_up(self) -> None:
        """Run the batch job's statements once, on an endpoint that does not exist.

        The worker does this before it forks work horses: a horse starts with a
        copy of the worker's memory, so the statements come compiled (and the
        mappers configured) instead of being prepared again in every job.
        """
        now = utcnow()
        self.claim_batch(0, now, self.batch_size)
        nothing = [Claim(0, 0, "", "", b"")]
        self._renew(nothing)
        self._endpoint_view(0)
        self._keep(nothing)
        self.session.rollback()
        self._follow_up(0)
