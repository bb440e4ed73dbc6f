"""Cases Webhook delivery: the outbox, claiming, sending, retries, disabling, the sweeper.

The database is the source of truth. A case change writes one delivery row per
subscribed, enabled endpoint in its own transaction (the outbox); after the
commit a job per delivery is enqueued. A job *claims* its row with a
compare-and-set update before sending, so a sweeper, a retry and a second
worker never send the same attempt twice; whatever Redis loses, the sweeper
finds again in the database.

A claim is a lease: it lasts :func:`lease_seconds`, longer than the sender's
hard deadline for one attempt, so an attempt still running always holds its
lease. A lease that ran out therefore means its worker died: the lease check
(:meth:`DeliveryService.reclaim`, every few seconds in each worker) takes the
delivery back and enqueues it at once.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import sqlalchemy as sa
from flask import current_app

from .. import signals
from ..enums import CLAIMABLE, AttemptOutcome, DeliveryStatus
from ..hooks import HostHooks
from ..jobs import deliver_webhook
from ..models import Models, as_utc, utcnow
from ..queueing import EnqueueError, JobQueue
from ..webhooks import build_headers, classify, next_delay, redact_url, send, serialize
from .base import Service
from .serialization import describe_case, json_key

log = logging.getLogger("flask_kroncases.webhooks")

#: Seconds a default lease adds to the longest attempt: the few steps around the
#: send (loading the row, signing) and some clock skew between worker machines.
LEASE_MARGIN = 5.0

LOST_MESSAGE = "The worker stopped before the attempt finished."


def lease_seconds(config: Mapping[str, Any]) -> float:
    """How long a claim lasts: ``KRONCASES_WEBHOOK_CLAIM_TIMEOUT``, or the longest attempt plus a margin.

    Raises ValueError for a timeout an attempt could outlast (connect + read
    timeouts): that attempt would be sent again while still in flight.
    """
    longest = float(config["KRONCASES_WEBHOOK_CONNECT_TIMEOUT"]) + float(config["KRONCASES_WEBHOOK_READ_TIMEOUT"])
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


class DeliveryService(Service):
    """Outbox rows and their delivery, for one app."""

    def __init__(self, db: Any, models: Models, hooks: HostHooks, jobs: JobQueue) -> None:
        super().__init__(db, models)
        self.hooks = hooks
        self.jobs = jobs
        self.rng = random.Random()

    def active_secrets(self, endpoint: Any, now: datetime | None = None) -> list[str]:
        """The secrets that sign now, newest first."""
        now = now or utcnow()
        secrets = [endpoint.secret]
        expires = as_utc(endpoint.previous_secret_expires_at)
        if endpoint.previous_secret and expires and expires > now:
            secrets.append(endpoint.previous_secret)
        return secrets

    # -- the outbox ----------------------------------------------------------

    def record_event(self, event_type: str, case: Any, actor: Any, **extra: Any) -> list[Any]:
        """Add a delivery for each subscribed, enabled endpoint to the *current* transaction."""
        Endpoint = self.models.WebhookEndpoint
        enabled = self.session.scalars(sa.select(Endpoint).where(Endpoint.enabled.is_(True)).order_by(Endpoint.id))
        endpoints = [e for e in enabled if event_type in (e.events or [])]
        if not endpoints:
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
        deliveries = [self.new_delivery(e, event_type, case.id, data, now) for e in endpoints]
        self.session.add_all(deliveries)
        return deliveries

    def new_delivery(self, endpoint: Any, event_type: str, case_id: Any, data: dict[str, Any], now: datetime) -> Any:
        event_id = "evt_" + uuid.uuid4().hex
        body = serialize({"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data})
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

    def dispatch(self, deliveries: Iterable[Any]) -> None:
        """After commit: enqueue a job per delivery. A failure leaves it pending for the sweeper."""
        for delivery in deliveries:
            self._enqueue(deliver_webhook, delivery.id, delay=0)

    def _enqueue(self, func: Any, delivery_id: int, *, delay: float) -> bool:
        try:
            self.jobs.enqueue(func, delivery_id, delay=delay)
        except EnqueueError as exc:
            log.warning("delivery %s stays pending until the next sweep: %s", delivery_id, exc)
            return False
        return True

    # -- sending -------------------------------------------------------------

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

    def deliver(self, delivery_id: int) -> AttemptOutcome:
        """One attempt at one delivery; returns what became of it."""
        now = utcnow()
        if not self.claim(delivery_id, now):
            return AttemptOutcome.SKIPPED
        delivery = self.session.get(self.models.WebhookDelivery, delivery_id)
        self.session.refresh(delivery)
        endpoint = delivery.endpoint
        if not endpoint.enabled:
            delivery.status = DeliveryStatus.FAILED
            delivery.attempts -= 1
            delivery.last_error = "Not sent: the endpoint is disabled."
            delivery.claimed_at = None
            self.session.commit()
            return AttemptOutcome.FAILED

        config = self.config
        headers = build_headers(
            event_type=delivery.event_type,
            event_id=delivery.event_id,
            delivery_id=str(delivery.id),
            body=delivery.body,
            secrets=self.active_secrets(endpoint, now),
            timestamp=int(time.time()),
            user_agent=config["KRONCASES_WEBHOOK_USER_AGENT"],
        )
        url, body, number = endpoint.url, delivery.body, delivery.attempts
        self.session.commit()  # end the read transaction: hold nothing open while sending
        result = send(
            url, body, headers,
            allow_private=config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"],
            connect_timeout=float(config["KRONCASES_WEBHOOK_CONNECT_TIMEOUT"]),
            read_timeout=float(config["KRONCASES_WEBHOOK_READ_TIMEOUT"]),
            max_response_bytes=int(config["KRONCASES_WEBHOOK_MAX_RESPONSE_BYTES"]),
        )
        verdict = self._record(delivery, endpoint, number, result, now)
        log.info("delivery %s (%s, attempt %s) to %s: %s", delivery_id, headers["X-KronGage-Event"], number,
                 redact_url(url), verdict)
        return verdict

    def _still_claimed(self, delivery_id: int, number: int) -> bool:
        """Whether attempt ``number`` still holds its delivery; if so, keep it until this transaction ends.

        Only a lease that ran out (a worker taken for dead) loses it, so this
        fails only when a stalled worker wakes up after the lease check.
        """
        Delivery = self.models.WebhookDelivery
        result = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING,
                   Delivery.attempts == number)
            .values(claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)

    def _record(self, delivery: Any, endpoint: Any, number: int, result: Any, started: datetime) -> AttemptOutcome:
        if not self._still_claimed(delivery.id, number):
            self.session.rollback()
            log.warning("delivery %s: attempt %s ended after its lease was taken back; its result (%s) is not kept",
                        delivery.id, number, result.error or f"HTTP {result.status_code}")
            return AttemptOutcome.LOST
        verdict = classify(result)
        finished = utcnow()
        delay: float | None = None
        if verdict == AttemptOutcome.RETRY:
            schedule = tuple(self.config["KRONCASES_WEBHOOK_RETRY_SCHEDULE"])
            delay = next_delay(number, schedule, rng=self.rng, retry_after=result.retry_after)
            if delay is None:
                verdict = AttemptOutcome.FAILED
        self.session.add(
            self.models.WebhookAttempt(
                delivery_id=delivery.id, number=number, started_at=started,
                status_code=result.status_code, latency_ms=result.latency_ms,
                response_excerpt=result.response_excerpt or None, error=result.error, outcome=verdict,
            )
        )
        delivery.last_status_code = result.status_code
        delivery.last_latency_ms = result.latency_ms
        delivery.last_response_excerpt = result.response_excerpt or None
        delivery.last_error = result.error
        delivery.claimed_at = None
        disabled_reason: str | None = None
        if verdict == AttemptOutcome.DELIVERED:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
            endpoint.failing_since = None
        elif verdict == AttemptOutcome.RETRY:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = finished + timedelta(seconds=delay or 0)
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            if verdict == AttemptOutcome.FAILED and not result.refused:
                delivery.last_error = (result.error or f"HTTP {result.status_code}") + (
                    f" — gave up after {number} attempts."
                )
        if verdict == AttemptOutcome.DISABLE:
            disabled_reason = f"The receiver answered 410 Gone on {finished:%Y-%m-%d %H:%M} UTC."
        elif verdict != AttemptOutcome.DELIVERED:
            failing_since = as_utc(endpoint.failing_since) or started
            endpoint.failing_since = failing_since
            limit = float(self.config["KRONCASES_WEBHOOK_DISABLE_AFTER"])
            if (finished - failing_since).total_seconds() >= limit:
                disabled_reason = (
                    f"Every attempt failed since {failing_since:%Y-%m-%d %H:%M} UTC "
                    f"(last: {result.error or f'HTTP {result.status_code}'})."
                )
        if disabled_reason and endpoint.enabled:
            endpoint.enabled = False
            endpoint.disabled_reason = disabled_reason
        self.session.commit()
        if disabled_reason:
            log.warning("webhook endpoint %s (%s) disabled: %s", endpoint.id, redact_url(endpoint.url), disabled_reason)
            signals.webhook_endpoint_disabled.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                endpoint=endpoint,
                reason=disabled_reason,
            )
        if verdict == AttemptOutcome.RETRY:
            self._enqueue(deliver_webhook, delivery.id, delay=delay or 0)
        return verdict

    # -- the lease check and the sweeper -----------------------------------

    def reclaim(self) -> list[int]:
        """Take back every delivery whose lease ran out and enqueue it; return the ids enqueued.

        An attempt never outlives its lease (the sender cuts it off first), so
        a lease that ran out means its worker died: the delivery goes straight
        back to the queue, whatever RQ still lists for that worker.
        """
        Delivery = self.models.WebhookDelivery
        now = utcnow()
        expired = now - timedelta(seconds=lease_seconds(self.config))
        lost = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < expired)
            .values(status=DeliveryStatus.RETRYING, next_attempt_at=now, claimed_at=None, last_error=LOST_MESSAGE)
            .returning(Delivery.id, Delivery.attempts)
            .execution_options(synchronize_session=False)
        ).all()
        # Every attempt is logged, also the one a killed worker never finished.
        self.session.add_all(
            self.models.WebhookAttempt(delivery_id=delivery_id, number=number, started_at=now,
                                       error=LOST_MESSAGE, outcome=AttemptOutcome.LOST)
            for delivery_id, number in lost
        )
        self.session.commit()
        ids = sorted(delivery_id for delivery_id, _ in lost)
        if ids:
            log.warning("took back %d deliveries whose worker stopped mid-attempt: %s", len(ids), ids)
        return [delivery_id for delivery_id in ids if self._enqueue(deliver_webhook, delivery_id, delay=0)]

    def sweep(self) -> int:
        """Take back lost leases, then enqueue every due delivery that no job holds; return how many were enqueued."""
        reclaimed = self.reclaim()
        Delivery = self.models.WebhookDelivery
        now = utcnow()
        due = self.session.scalars(
            sa.select(Delivery.id)
            .where(
                Delivery.status.in_(CLAIMABLE),
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .order_by(Delivery.id)
        ).all()
        self.session.commit()
        held = self._held_by_jobs(overdue_before=now - timedelta(seconds=lease_seconds(self.config)))
        enqueued = len(reclaimed)
        for delivery_id in due:
            if delivery_id in held or delivery_id in reclaimed:
                continue
            try:
                self.jobs.enqueue(deliver_webhook, delivery_id)
            except EnqueueError as exc:
                log.warning("sweep stopped, the queue is unreachable: %s", exc)
                break
            enqueued += 1
        return enqueued

    def _held_by_jobs(self, *, overdue_before: datetime) -> set[int]:
        """Delivery ids that a queued, scheduled or running RQ job will attempt.

        A scheduled job still waiting since before ``overdue_before`` has no
        scheduler to move it (its worker died; RQ hands the scheduler over only
        every few minutes): it holds nothing, and the claim stops a late double
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
                if job is not None and (job.func_name or "").endswith(deliver_webhook.__name__) and job.args:
                    held.add(int(job.args[0]))
            return held
        except RedisError:
            return set()
