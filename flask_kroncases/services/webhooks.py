"""Cases Webhook: endpoints, the outbox, delivery attempts, redelivery and the sweeper.

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
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import sqlalchemy as sa
from flask import current_app, has_request_context, request

from .. import signals
from ..errors import CaseError
from ..models import Models, as_utc, utcnow
from ..queueing import EnqueueError, JobQueue
from ..webhooks import (
    build_headers,
    classify,
    generate_secret,
    next_delay,
    send,
    serialize,
    validate_url,
)
from .cases import describe_case, json_key

if TYPE_CHECKING:
    from ..extension import KronCases

log = logging.getLogger("flask_kroncases.webhooks")

#: The case events an endpoint can subscribe to.
EVENTS: tuple[str, ...] = ("case.created", "case.resolved", "case.escalated", "case.reopened")
#: Sent only by "Send test event" on the settings page.
TEST_EVENT = "ping"

#: Delivery statuses a job may claim.
CLAIMABLE = ("pending", "retrying")


class WebhookService:
    """Endpoint settings and delivery for one app."""

    def __init__(self, db: Any, models: Models, hooks: KronCases, jobs: JobQueue) -> None:
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

    # -- endpoints (Settings → Integrations) -------------------------------

    def endpoints(self) -> list[Any]:
        Endpoint = self.models.WebhookEndpoint
        return list(self.session.scalars(sa.select(Endpoint).order_by(Endpoint.id)))

    def endpoint(self, endpoint_id: Any) -> Any:
        Endpoint = self.models.WebhookEndpoint
        found = self.session.get(Endpoint, endpoint_id) if isinstance(endpoint_id, int) else None
        if found is None:
            raise CaseError("This webhook endpoint does not exist.", kind="not_found")
        return found

    def _validate(
        self, url: Any, events: Any, description: Any, *, endpoint_id: int | None = None
    ) -> tuple[str, list[str], str]:
        errors: dict[str, list[str]] = {}
        clean_url = url.strip() if isinstance(url, str) else ""
        if not clean_url:
            errors["url"] = ["Enter the endpoint URL."]
        elif len(clean_url) > 2048:
            errors["url"] = ["Keep the URL to 2048 characters or fewer."]
        else:
            problem = validate_url(clean_url, self.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"])
            if problem:
                errors["url"] = [problem]
            elif any(e.url == clean_url and e.id != endpoint_id for e in self.endpoints()):
                # Also what stops a reloaded "secret shown once" page from making a second endpoint.
                errors["url"] = ["An endpoint with this URL exists already; rotate its secret instead."]
        chosen = list(events) if isinstance(events, (list, tuple)) else []
        unknown = [e for e in chosen if e not in EVENTS]
        if unknown or not chosen:
            errors["events"] = ["Choose one or more of " + ", ".join(EVENTS) + "."]
        clean_description = description.strip() if isinstance(description, str) else ""
        if len(clean_description) > 200:
            errors["description"] = ["Keep the description to 200 characters or fewer."]
        if errors:
            raise CaseError("The webhook was not saved: " + " ".join(m for ms in errors.values() for m in ms),
                            errors=errors)
        return clean_url, [e for e in EVENTS if e in chosen], clean_description

    def create_endpoint(
        self, url: Any, events: Any = EVENTS, *, enabled: bool = True, description: Any = ""
    ) -> tuple[Any, str]:
        """Save a new endpoint; return it and its secret (the only time it is shown)."""
        clean_url, clean_events, clean_description = self._validate(url, events, description)
        secret = generate_secret()
        endpoint = self.models.WebhookEndpoint(
            url=clean_url, events=clean_events, enabled=bool(enabled), description=clean_description,
            secret=secret, created_at=utcnow(), updated_at=utcnow(),
        )
        self.session.add(endpoint)
        self.session.commit()
        log.info("webhook endpoint %s created for %s", endpoint.id, clean_url)
        return endpoint, secret

    def update_endpoint(
        self, endpoint: Any, url: Any, events: Any, *, enabled: bool, description: Any = ""
    ) -> Any:
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        clean_url, clean_events, clean_description = self._validate(url, events, description, endpoint_id=endpoint.id)
        endpoint.url = clean_url
        endpoint.events = clean_events
        endpoint.description = clean_description
        if enabled and not endpoint.enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        endpoint.enabled = bool(enabled)
        endpoint.updated_at = utcnow()
        self.session.commit()
        return endpoint

    def delete_endpoint(self, endpoint: Any) -> None:
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        self.session.delete(endpoint)
        self.session.commit()

    def rotate_secret(self, endpoint: Any) -> str:
        """Make a new secret; the old one keeps signing for ``KRONCASES_WEBHOOK_SECRET_OVERLAP``."""
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        overlap = float(self.config["KRONCASES_WEBHOOK_SECRET_OVERLAP"])
        now = utcnow()
        endpoint.previous_secret = endpoint.secret if overlap > 0 else None
        endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap) if overlap > 0 else None
        endpoint.secret = generate_secret()
        endpoint.updated_at = now
        self.session.commit()
        log.info("webhook endpoint %s: secret rotated", endpoint.id)
        return endpoint.secret  # type: ignore[no-any-return]

    def active_secrets(self, endpoint: Any, now: datetime | None = None) -> list[str]:
        """The secrets that sign now, newest first."""
        now = now or utcnow()
        secrets = [endpoint.secret]
        expires = as_utc(endpoint.previous_secret_expires_at)
        if endpoint.previous_secret and expires and expires > now:
            secrets.append(endpoint.previous_secret)
        return secrets

    def deliveries(self, endpoint: Any = None, *, limit: int = 50) -> list[Any]:
        Delivery = self.models.WebhookDelivery
        query = sa.select(Delivery).order_by(Delivery.id.desc()).limit(limit)
        if endpoint is not None:
            endpoint_id = endpoint if isinstance(endpoint, int) else endpoint.id
            query = query.where(Delivery.endpoint_id == endpoint_id)
        return list(self.session.scalars(query))

    def delivery(self, delivery_id: Any) -> Any:
        Delivery = self.models.WebhookDelivery
        found = self.session.get(Delivery, delivery_id) if isinstance(delivery_id, int) else None
        if found is None:
            raise CaseError("This delivery does not exist.", kind="not_found")
        return found

    def send_test_event(self, endpoint: Any) -> Any:
        """Queue a ``ping`` to one endpoint, through the same path as real events."""
        endpoint = endpoint if isinstance(endpoint, self.models.WebhookEndpoint) else self.endpoint(endpoint)
        payload_data = {"message": "Test event from the Cases Webhook settings page.", "endpoint_id": endpoint.id}
        delivery = self._new_delivery(endpoint, TEST_EVENT, None, payload_data, utcnow())
        self.session.add(delivery)
        self.session.commit()
        self.dispatch([delivery])
        return delivery

    def redeliver(self, delivery: Any) -> Any:
        """Send a delivery again by hand: same event id, same bytes, a fresh attempt."""
        delivery = delivery if isinstance(delivery, self.models.WebhookDelivery) else self.delivery(delivery)
        if delivery.status == "sending":
            raise CaseError("This delivery is being sent right now.", kind="conflict")
        delivery.status = "pending"
        delivery.next_attempt_at = None
        delivery.claimed_at = None
        self.session.commit()
        self.dispatch([delivery])
        return delivery

    # -- the outbox ----------------------------------------------------------

    def record_event(self, event_type: str, case: Any, actor: Any, **extra: Any) -> list[Any]:
        """Add a delivery for each subscribed, enabled endpoint to the *current* transaction."""
        endpoints = [e for e in self.endpoints() if e.enabled and event_type in (e.events or [])]
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
        deliveries = [self._new_delivery(e, event_type, case.id, data, now) for e in endpoints]
        self.session.add_all(deliveries)
        return deliveries

    def _new_delivery(self, endpoint: Any, event_type: str, case_id: Any, data: dict[str, Any], now: datetime) -> Any:
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
        base = self.config["KRONCASES_BASE_URL"]
        if base:
            return urljoin(base.rstrip("/") + "/", url.lstrip("/"))
        if has_request_context():
            return urljoin(request.host_url, url)
        return url

    def dispatch(self, deliveries: Iterable[Any]) -> None:
        """After commit: enqueue a job per delivery. A failure leaves it pending for the sweeper."""
        from ..jobs import deliver_webhook

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
            from ..jobs import deliver_webhook

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
        from ..jobs import deliver_webhook

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

        from ..jobs import deliver_webhook

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
