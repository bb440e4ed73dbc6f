"""Cases Webhook end to end: outbox, a real RQ worker on the real Redis, a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from flask_kroncases import CaseError
from flask_kroncases.models import utcnow

from .conftest import REDIS_URL, failing_commit, table_counts
from .hosts import HOSTS
from .support.receiver import Receiver
from .support.worker import ROOT, WorkerProcess, flask_command, worker_env
from .test_service import create


@pytest.fixture
def app_config(queue_name: str) -> dict[str, Any]:
    return {
        "KRONCASES_REDIS_URL": REDIS_URL,
        "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
        "KRONCASES_WEBHOOK_RETRY_SCHEDULE": [0, 0.5, 0.5, 0.5],
        "KRONCASES_SWEEP_INTERVAL": 1,
        "KRONCASES_BASE_URL": "https://help.example.com",
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def start_worker(host: Any, database: Any, app_config: dict[str, Any], tmp_path: Any) -> Iterator[Any]:
    workers: list[WorkerProcess] = []
    host_name = next(name for name, module in HOSTS.items() if module is host)

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(worker_env(host_name, database, app_config), tmp_path / f"worker{len(workers)}.log", *args)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def endpoint(cases: Any, url: str, events: Any = None) -> tuple[Any, str]:
    service = cases.state.webhooks
    kwargs = {"events": events} if events else {}
    return service.create_endpoint(url, **kwargs)


def verify(hit: Any, secret: str) -> dict[str, Any]:
    """Check both signatures independently of our code; return the parsed body."""
    expected = "sha256=" + hmac.new(secret.encode(), hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-krongage-signature"], expected)
    Webhook(secret).verify(hit.body, {k: hit.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
    return json.loads(hit.body)


def test_each_case_event_arrives_once_signed(app, cases, desk, receiver, start_worker, ctx):
    _, secret = endpoint(cases, receiver.url)
    start_worker()
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    cases.set_status(case, "pending", by=agent)   # no webhook event for pending
    cases.resolve(case, by=agent)
    cases.reopen(case, by=agent)
    cases.escalate(case, by=agent, reason="Customer escalated by phone")
    hits = receiver.wait_for(lambda h: len(h) >= 4)
    bodies = [verify(hit, secret) for hit in hits]
    assert sorted(b["type"] for b in bodies) == sorted(["case.created", "case.resolved", "case.reopened", "case.escalated"])
    assert len({b["id"] for b in bodies}) == 4
    for hit, body in zip(hits, bodies):
        assert hit.headers["webhook-id"] == body["id"]
        assert hit.headers["x-krongage-event"] == body["type"]
        assert hit.headers["x-krongage-delivery"].isdigit()
        assert hit.headers["user-agent"].startswith("KronGage-Webhooks/")
        assert hit.headers["content-type"] == "application/json"
        assert body["data"]["case"]["id"] == case.id
        assert body["data"]["conversation"]["url"] == f"https://help.example.com/conversations/{desk.conversation}"
    created = next(b for b in bodies if b["type"] == "case.created")
    assert created["data"]["case"]["title"] == "Login fails after password reset"
    assert created["data"]["actor"]["name"] == "Alex Agent"
    escalated = next(b for b in bodies if b["type"] == "case.escalated")
    assert escalated["data"]["reason"] == "Customer escalated by phone"
    _wait_status(cases, "delivered", 4)
    assert len(receiver.hits) == 4


def _wait_status(cases: Any, status: str, count: int, timeout: float = 20) -> list[Any]:
    import time

    Delivery = cases.models.WebhookDelivery
    deadline = time.monotonic() + timeout
    while True:
        cases.state.db.session.expire_all()
        rows = cases.state.db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        if sum(1 for r in rows if r.status == status) >= count or time.monotonic() > deadline:
            cases.state.db.session.commit()
            return rows
        cases.state.db.session.commit()
        time.sleep(0.1)


def test_only_subscribed_and_enabled_endpoints_get_deliveries(app, cases, desk, receiver, ctx):
    service = cases.state.webhooks
    resolved_only, _ = endpoint(cases, receiver.url, events=["case.resolved"])
    disabled, _ = endpoint(cases, receiver.url + "/disabled")
    service.update_endpoint(disabled, disabled.url, disabled.events, enabled=False)
    case = create(cases, desk)
    Delivery = cases.models.WebhookDelivery
    assert cases.state.db.session.scalars(sa.select(Delivery)).all() == []
    cases.resolve(case, by=desk.user(desk.agent))
    rows = cases.state.db.session.scalars(sa.select(Delivery)).all()
    assert [(r.endpoint_id, r.event_type) for r in rows] == [(resolved_only.id, "case.resolved")]


def test_500_twice_then_200_is_one_delivery_with_three_attempts(app, cases, desk, receiver, start_worker, ctx):
    receiver.statuses = [500, 500, 200]
    _, secret = endpoint(cases, receiver.url)
    start_worker()
    create(cases, desk)
    hits = receiver.wait_for(lambda h: len(h) >= 3)
    rows = _wait_status(cases, "delivered", 1)
    assert len(rows) == 1
    delivery = rows[0]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert [(a.number, a.status_code, a.outcome) for a in delivery.attempt_log] == [
        (1, 500, "retry"), (2, 500, "retry"), (3, 200, "delivered"),
    ]
    assert {hit.headers["webhook-id"] for hit in hits} == {delivery.event_id}
    assert len({hit.body for hit in hits}) == 1
    for hit in hits:
        verify(hit, secret)
    assert len(receiver.hits) == 3


def test_retries_run_out_then_redeliver_by_hand(app, cases, desk, receiver, start_worker, ctx):
    receiver.statuses = [503, 503, 503, 503, 200]
    endpoint(cases, receiver.url)
    start_worker()
    create(cases, desk)
    rows = _wait_status(cases, "failed", 1)
    delivery = rows[0]
    assert delivery.status == "failed" and delivery.attempts == 4
    assert "gave up after 4 attempts" in delivery.last_error
    event_id = delivery.event_id
    cases.state.webhooks.redeliver(delivery)
    rows = _wait_status(cases, "delivered", 1)
    assert rows[0].attempts == 5 and rows[0].event_id == event_id
    assert {h.headers["webhook-id"] for h in receiver.hits} == {event_id}


def test_redis_down_keeps_the_case_and_the_delivery_pending(
    app, cases, desk, receiver, start_worker, host, database, app_config, caplog, ctx
):
    _, secret = endpoint(cases, receiver.url)
    jobs = cases.state.jobs
    jobs.redis_url, jobs._redis = "redis://127.0.0.1:1/0", None  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="flask_kroncases"):
        case = create(cases, desk)
    assert cases.get_case(case.id).status == "open"
    Delivery = cases.models.WebhookDelivery
    rows = cases.state.db.session.scalars(sa.select(Delivery)).all()
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)]
    assert "stays pending until the next sweep" in caplog.text
    # Redis is back: the sweep command finds it, a worker delivers it once.
    host_name = next(name for name, module in HOSTS.items() if module is host)
    result = subprocess.run(flask_command("sweep"), env=worker_env(host_name, database, app_config), cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Enqueued 1 pending delivery." in result.stdout
    start_worker("--sweep-interval", "0")
    hits = receiver.wait_for(lambda h: len(h) >= 1)
    _wait_status(cases, "delivered", 1)
    assert len(receiver.hits) == 1
    assert verify(hits[0], secret)["data"]["case"]["id"] == case.id


def test_sweep_does_not_enqueue_what_a_job_holds(app, cases, desk, receiver, ctx):
    endpoint(cases, receiver.url)
    create(cases, desk)   # enqueued on the real Redis, no worker yet
    assert cases.state.webhooks.sweep() == 0
    queue = cases.state.jobs.rq_queue()
    assert queue.count == 1


def test_two_workers_never_send_the_same_attempt_twice(app, cases, desk, receiver, ctx):
    receiver.delay = 0.3
    endpoint(cases, receiver.url)
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    results: list[str] = []
    barrier = threading.Barrier(3)

    def attempt() -> None:
        with app.app_context():
            barrier.wait(timeout=10)
            results.append(app.extensions["kroncases"].webhooks.deliver(delivery_id))
            app.extensions["sqlalchemy"].session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["delivered", "skipped", "skipped"]
    assert len(receiver.hits) == 1


def test_a_worker_lost_mid_send_is_swept_again(app, cases, desk, receiver, ctx):
    endpoint(cases, receiver.url)
    create(cases, desk)
    Delivery = cases.models.WebhookDelivery
    session = cases.state.db.session
    delivery = session.scalars(sa.select(Delivery)).one()
    delivery.status, delivery.attempts = "sending", 1
    delivery.claimed_at = utcnow() - timedelta(hours=1)
    session.commit()
    cases.state.jobs.rq_queue().empty()
    assert cases.state.webhooks.sweep() == 1
    session.expire_all()
    delivery = session.get(Delivery, delivery.id)
    assert delivery.status == "retrying"
    assert cases.state.webhooks.deliver(delivery.id) == "delivered"
    assert len(receiver.hits) == 1


def test_nothing_is_recorded_for_a_rolled_back_change(app, cases, desk, receiver, ctx):
    endpoint(cases, receiver.url)
    before = table_counts(app, cases)
    with pytest.raises(CaseError):
        create(cases, desk, title="x" * 81)
    session = cases.state.db.session
    with failing_commit(session), pytest.raises(RuntimeError):
        create(cases, desk)
    assert table_counts(app, cases) == before
    assert session.scalars(sa.select(cases.models.WebhookDelivery)).all() == []


def test_secret_rotation_overlap_then_only_the_new_secret(app, cases, desk, receiver, ctx):
    service = cases.state.webhooks
    ep, old = endpoint(cases, receiver.url)
    new = service.rotate_secret(ep)
    assert new != old and new.startswith("whsec_")
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    assert service.deliver(delivery_id) == "delivered"
    during = receiver.hits[-1]
    # During the overlap: the Standard Webhooks header verifies with either secret.
    for secret in (old, new):
        Webhook(secret).verify(during.body, {k: during.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
    assert during.headers["x-krongage-signature"] == "sha256=" + hmac.new(new.encode(), during.body, hashlib.sha256).hexdigest()
    # After the overlap: only the new one.
    ep = service.endpoint(ep.id)
    ep.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    cases.state.db.session.commit()
    service.send_test_event(ep)
    test_id = max(d.id for d in service.deliveries(ep))
    assert service.deliver(test_id) == "delivered"
    after = receiver.hits[-1]
    headers = {k: after.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    Webhook(new).verify(after.body, headers)
    with pytest.raises(Exception):
        Webhook(old).verify(after.body, headers)
    assert json.loads(after.body)["type"] == "ping"


def test_secrets_are_never_logged(app, cases, desk, receiver, ctx, caplog):
    with caplog.at_level(logging.DEBUG):
        ep, secret = endpoint(cases, receiver.url)
        rotated = cases.state.webhooks.rotate_secret(ep)
        create(cases, desk)
        delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
        cases.state.webhooks.deliver(delivery_id)
    assert secret not in caplog.text and rotated not in caplog.text


def test_410_disables_the_endpoint_with_a_reason(app, cases, desk, receiver, ctx):
    from flask_kroncases import signals

    receiver.statuses = [410]
    ep, _ = endpoint(cases, receiver.url)
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    seen: list[str] = []
    signals.webhook_endpoint_disabled.connect(lambda sender, endpoint, reason: seen.append(reason), weak=False)
    try:
        assert cases.state.webhooks.deliver(delivery_id) == "disable"
    finally:
        signals.webhook_endpoint_disabled.receivers.clear()
    ep = cases.state.webhooks.endpoint(ep.id)
    assert not ep.enabled and "410 Gone" in ep.disabled_reason and seen == [ep.disabled_reason]


def test_continuous_failure_disables_the_endpoint(app, cases, desk, receiver, ctx):
    app.config["KRONCASES_WEBHOOK_DISABLE_AFTER"] = 0
    receiver.statuses = [500]
    ep, _ = endpoint(cases, receiver.url)
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    cases.state.webhooks.deliver(delivery_id)
    ep = cases.state.webhooks.endpoint(ep.id)
    assert not ep.enabled
    assert ep.disabled_reason.startswith("Every attempt failed since") and "HTTP 500" in ep.disabled_reason


def test_a_redirect_is_not_followed(app, cases, desk, ctx):
    target = Receiver()
    redirector = Receiver(statuses=[302])
    try:
        redirector_url = redirector.url
        endpoint(cases, redirector_url)
        create(cases, desk)
        delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
        assert cases.state.webhooks.deliver(delivery_id) == "retry"
        delivery = cases.state.webhooks.delivery(delivery_id)
        assert delivery.last_status_code == 302 and delivery.status == "retrying"
        assert len(redirector.hits) == 1 and target.hits == []
    finally:
        target.close()
        redirector.close()
