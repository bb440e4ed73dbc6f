"""Cases Webhook delivery: the outbox, claiming, sending, retries, disabling, the sweeper.

The database is the source of truth. A case change writes one delivery row per
subscribed, enabled endpoint in its own transaction (the outbox); after the
commit a job per delivery is enqueued. A job *claims* its row with a
compare-and-set update before sending, so a sweeper, a retry and a second
worker never send the same attempt twice; whatever Redis loses, the sweeper
finds again in the database.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import sqlalchemy as sa
from flask import current_app

from .. import signals
from ..hooks import HostHooks
from ..jobs import deliver_webhook
from ..models import Models, as_utc, utcnow
from ..queueing import EnqueueError, JobQueue
from ..webhooks import build_headers, classify, next_delay, send, serialize
from .serialization import describe_case, json_key

log = logging.getLogger("flask_kroncases.webhooks")

#: Delivery statuses a job may claim.
CLAIMABLE = ("pending", "retrying")


class DeliveryService:
    """Outbox rows and their delivery, for one app."""

    def __init__(self, db: Any, models: Models, hooks: HostHooks, jobs: JobQueue) -> None:
        self.db = db
        self.models = models
        self.hooks = hooks
        self.jobs = jobs
        self.rng = random.Random()

    @property
    def session(self) -> Any:
        return self.db.session

    @property
    def config(self) -> Any:
        return current_app.config

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
            "case": describe_case(case, conversation_url=url),
            "conversation": {"id": json_key(case.conversation_id), "url": url},
            "actor": {"id": json_key(self.models.host.user.key_of(actor)), "name": self.hooks.display_name(actor)},
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
            body=body, status="pending", attempts=0, created_at=now,
        )

    def conversation_url(self, conversation: Any) -> str | None:
        """An absolute link to the conversation, for receivers outside the helpdesk."""
        try:
            url = self.hooks.url_for_conversation(conversation)
        except Exception:  # the host's builder may need a request; a link is not worth an error
            log.warning("conversation_url hook failed", exc_info=True)
            return None
        if not url or "://" in url:
            return url
        # Never the request's Host header: a forged one would end up in a signed body.
        base = self.config["KRONCASES_BASE_URL"]
        if base:
            return urljoin(base.rstrip("/") + "/", url.lstrip("/"))
        return url

    def dispatch(self, deliveries: Iterable[Any]) -> None:
        """After commit: enqueue a job per delivery. A failure leaves it pending for the sweeper."""
        for delivery in deliveries:
            self._enqueue(deliver_webhook, delivery.id, delay=0)

    def _enqueue(self, func: Any, delivery_id: int, *, delay: float) -> None:
        try:
            self.jobs.enqueue(func, delivery_id, delay=delay)
        except EnqueueError as exc:
            log.warning("delivery %s stays pending until the next sweep: %s", delivery_id, exc)

    # -- sending -------------------------------------------------------------

    def claim(self, delivery_id: int, now: datetime) -> bool:
        """Take the delivery for one attempt, or learn that someone else has it."""
        Delivery = self.models.WebhookDelivery
        result = self.session.execute(
            sa.update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status.in_(CLAIMABLE),
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .values(status="sending", claimed_at=now, attempts=Delivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        return result.rowcount == 1

    def deliver(self, delivery_id: int) -> str:
        """One attempt at one delivery; returns what became of it."""
        now = utcnow()
        if not self.claim(delivery_id, now):
            return "skipped"
        delivery = self.session.get(self.models.WebhookDelivery, delivery_id)
        self.session.refresh(delivery)
        endpoint = delivery.endpoint
        if not endpoint.enabled:
            delivery.status = "failed"
            delivery.attempts -= 1
            delivery.last_error = "Not sent: the endpoint is disabled."
            self.session.commit()
            return "failed"

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
        url = endpoint.url
        self.session.commit()  # end the read transaction: hold nothing open while sending
        result = send(
            url, delivery.body, headers,
            allow_private=config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"],
            connect_timeout=float(config["KRONCASES_WEBHOOK_CONNECT_TIMEOUT"]),
            read_timeout=float(config["KRONCASES_WEBHOOK_READ_TIMEOUT"]),
            max_response_bytes=int(config["KRONCASES_WEBHOOK_MAX_RESPONSE_BYTES"]),
        )
        return self._record(delivery, endpoint, result, now)

    def _record(self, delivery: Any, endpoint: Any, result: Any, started: datetime) -> str:
        verdict = classify(result)
        finished = utcnow()
        delay: float | None = None
        if verdict == "retry":
            schedule = tuple(self.config["KRONCASES_WEBHOOK_RETRY_SCHEDULE"])
            delay = next_delay(delivery.attempts, schedule, rng=self.rng, retry_after=result.retry_after)
            if delay is None:
                verdict = "failed"
        self.session.add(
            self.models.WebhookAttempt(
                delivery_id=delivery.id, number=delivery.attempts, started_at=started,
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
        if verdict == "delivered":
            delivery.status = "delivered"
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
            endpoint.failing_since = None
        elif verdict == "retry":
            delivery.status = "retrying"
            delivery.next_attempt_at = finished + timedelta(seconds=delay or 0)
        else:
            delivery.status = "failed"
            delivery.next_attempt_at = None
            if verdict == "failed" and not result.refused:
                delivery.last_error = (result.error or f"HTTP {result.status_code}") + (
                    f" — gave up after {delivery.attempts} attempts."
                )
        if verdict == "disable":
            disabled_reason = f"The receiver answered 410 Gone on {finished:%Y-%m-%d %H:%M} UTC."
        elif verdict != "delivered":
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
            log.warning("webhook endpoint %s disabled: %s", endpoint.id, disabled_reason)
            signals.webhook_endpoint_disabled.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                endpoint=endpoint,
                reason=disabled_reason,
            )
        if verdict == "retry":
                self._enqueue(deliver_webhook, delivery.id, delay=delay or 0)
        return verdict

    # -- the sweeper -----------------------------------------------------------

    def sweep(self) -> int:
        """Enqueue every due delivery that no job holds; return how many were enqueued.

        A delivery left ``sending`` by a worker that died longer ago than
        ``KRONCASES_WEBHOOK_CLAIM_TIMEOUT`` is handed out again.
        """
        Delivery = self.models.WebhookDelivery
        now = utcnow()
        stale = now - timedelta(seconds=float(self.config["KRONCASES_WEBHOOK_CLAIM_TIMEOUT"]))
        lost_message = "The worker stopped before the attempt finished."
        lost = self.session.execute(
            sa.update(Delivery)
            .where(Delivery.status == "sending", Delivery.claimed_at < stale)
            .values(status="retrying", next_attempt_at=now, claimed_at=None, last_error=lost_message)
            .returning(Delivery.id, Delivery.attempts)
            .execution_options(synchronize_session=False)
        ).all()
        # Every attempt is logged, also the one a killed worker never finished.
        self.session.add_all(
            self.models.WebhookAttempt(delivery_id=delivery_id, number=number, started_at=now,
                                       error=lost_message, outcome="lost")
            for delivery_id, number in lost
        )
        self.session.commit()
        due = self.session.scalars(
            sa.select(Delivery.id)
            .where(
                Delivery.status.in_(CLAIMABLE),
                sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            )
            .order_by(Delivery.id)
        ).all()
        held = self._held_by_jobs(overdue_before=stale)
        enqueued = 0
        for delivery_id in due:
            if delivery_id in held:
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

        A scheduled job still waiting long after its time has no scheduler to
        move it (its worker died; RQ hands the scheduler over only every few
        minutes): it holds nothing, and the claim stops a late double send.
        """
        if self.jobs.runner != "rq":
            return set()
        from redis.exceptions import RedisError
        from rq.job import Job
        from rq.registry import ScheduledJobRegistry, StartedJobRegistry

        try:
            queue = self.jobs.rq_queue()
            ids: list[str] = list(queue.get_job_ids())
            scheduled = ScheduledJobRegistry(queue=queue)  # scored by the time each job is due
            ids += [job_id.decode() for job_id in
                    self.jobs.connection.zrangebyscore(scheduled.key, overdue_before.timestamp(), "+inf")]
            ids += StartedJobRegistry(queue=queue).get_job_ids()
            held: set[int] = set()
            for job in Job.fetch_many(ids, connection=self.jobs.connection):
                if job is not None and (job.func_name or "").endswith(deliver_webhook.__name__) and job.args:
                    held.add(int(job.args[0]))
            return held
        except RedisError:
            return set()
