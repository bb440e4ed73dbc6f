"""Cases Webhook end to end: outbox, a real RQ worker on the real Redis, a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from flask_kroncases import CaseError
from flask_kroncases.models import utcnow

from .conftest import REDIS_URL, failing_commit, table_counts
from .hosts import HOSTS
from .support.receiver import QuietHandler, Receiver, hook_url, serve
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
    service = cases.state.endpoints
    kwargs = {"events": events} if events else {}
    return service.create_endpoint(url, **kwargs)


def kron_verifies(header: str, secret: str, body: bytes) -> bool:
    """The README's check: any ``sha256=`` entry of the comma-separated list, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, entry.strip()) for entry in header.split(","))


def verify(hit: Any, secret: str) -> dict[str, Any]:
    """Check both signatures independently of our code; return the parsed body."""
    expected = "sha256=" + hmac.new(secret.encode(), hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-krongage-signature"], expected)  # no rotation: exactly one
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
    for hit, body in zip(hits, bodies, strict=True):
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
    service = cases.state.endpoints
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
    cases.state.endpoints.redeliver(delivery)
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
    assert cases.state.delivery.sweep() == 0
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
            results.append(app.extensions["kroncases"].delivery.deliver(delivery_id))
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
    assert cases.state.delivery.sweep() == 1
    session.expire_all()
    delivery = session.get(Delivery, delivery.id)
    assert delivery.status == "retrying"
    assert cases.state.delivery.deliver(delivery.id) == "delivered"
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
    service, delivery = cases.state.endpoints, cases.state.delivery
    ep, old = endpoint(cases, receiver.url)
    new = service.rotate_secret(ep)
    assert new != old and new.startswith("whsec_")
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    assert delivery.deliver(delivery_id) == "delivered"
    during = receiver.hits[-1]
    # During the overlap: both headers verify with either secret, newest first.
    for secret in (old, new):
        Webhook(secret).verify(during.body, {k: during.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
        assert kron_verifies(during.headers["x-krongage-signature"], secret, during.body)
    assert during.headers["x-krongage-signature"] == ", ".join(
        "sha256=" + hmac.new(s.encode(), during.body, hashlib.sha256).hexdigest() for s in (new, old))
    # After the overlap: only the new one, one signature per header.
    ep = service.endpoint(ep.id)
    ep.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    cases.state.db.session.commit()
    service.send_test_event(ep)
    test_id = max(d.id for d in service.deliveries(ep))
    assert delivery.deliver(test_id) == "delivered"
    after = receiver.hits[-1]
    headers = {k: after.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    Webhook(new).verify(after.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, headers)
    assert after.headers["x-krongage-signature"] == "sha256=" + hmac.new(new.encode(), after.body, hashlib.sha256).hexdigest()
    assert not kron_verifies(after.headers["x-krongage-signature"], old, after.body)
    assert json.loads(after.body)["type"] == "ping"


@dataclass
class VerifyingReceiver:
    """A receiver that knows one secret and checks both header families with it, as the README's
    Flask receiver and the ``standardwebhooks`` package do: 401 unless both verify."""

    secret: str
    checked: list[tuple[bool, bool, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                kron = kron_verifies(self.headers.get("X-KronGage-Signature", ""), receiver.secret, body)
                try:
                    Webhook(receiver.secret).verify(body, {k: self.headers.get(k, "") for k in
                                                           ("webhook-id", "webhook-timestamp", "webhook-signature")})
                    standard = True
                except WebhookVerificationError:
                    standard = False
                receiver.checked.append((kron, standard, body))
                self.send_response(200 if kron and standard else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = serve(Handler)

    @property
    def url(self) -> str:
        return hook_url(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_during_an_overlap_receivers_with_the_old_and_the_new_secret_both_verify(app, cases, desk, ctx):
    """A rotation rolled out receiver by receiver: one still has the old secret, one the new.

    Both get real deliveries from the delivery service and check both header
    families with their own secret only; after the overlap the old one refuses.
    """
    service, delivery = cases.state.endpoints, cases.state.delivery
    ep, old = endpoint(cases, "http://127.0.0.1:9/placeholder")
    new = service.rotate_secret(ep)
    old_side, new_side = VerifyingReceiver(old), VerifyingReceiver(new)
    try:
        service.update_endpoint(ep, old_side.url, ep.events, enabled=True)
        case = create(cases, desk)
        delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
        assert delivery.deliver(delivery_id) == "delivered"
        # The endpoint moves to the receiver with the new secret; the same event goes there too.
        service.update_endpoint(ep, new_side.url, ep.events, enabled=True)
        service.redeliver(delivery_id)
        assert delivery.deliver(delivery_id) == "delivered"
        cases.resolve(case, by=desk.user(desk.agent))
        resolved_id = max(d.id for d in service.deliveries(ep))
        assert delivery.deliver(resolved_id) == "delivered"
        assert [(kron, standard) for kron, standard, _ in old_side.checked] == [(True, True)]
        assert [(kron, standard) for kron, standard, _ in new_side.checked] == [(True, True), (True, True)]
        assert old_side.checked[0][2] == new_side.checked[0][2]      # the same bytes to both

        # The overlap ends: the receiver still on the old secret refuses, the new one accepts.
        ep = service.endpoint(ep.id)
        ep.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
        cases.state.db.session.commit()
        service.update_endpoint(ep, old_side.url, ep.events, enabled=True)
        service.redeliver(delivery_id)
        assert delivery.deliver(delivery_id) == "retry"
        assert old_side.checked[-1][:2] == (False, False)
        service.update_endpoint(ep, new_side.url, ep.events, enabled=True)
        service.redeliver(delivery_id)
        assert delivery.deliver(delivery_id) == "delivered"
        assert new_side.checked[-1][:2] == (True, True)
    finally:
        old_side.close()
        new_side.close()


def test_secrets_are_never_logged(app, cases, desk, receiver, ctx, caplog):
    with caplog.at_level(logging.DEBUG):
        ep, secret = endpoint(cases, receiver.url)
        rotated = cases.state.endpoints.rotate_secret(ep)
        create(cases, desk)
        delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
        cases.state.delivery.deliver(delivery_id)
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
        assert cases.state.delivery.deliver(delivery_id) == "disable"
    finally:
        signals.webhook_endpoint_disabled.receivers.clear()
    ep = cases.state.endpoints.endpoint(ep.id)
    assert not ep.enabled and "410 Gone" in ep.disabled_reason and seen == [ep.disabled_reason]


def test_continuous_failure_disables_the_endpoint(app, cases, desk, receiver, ctx):
    app.config["KRONCASES_WEBHOOK_DISABLE_AFTER"] = 0
    receiver.statuses = [500]
    ep, _ = endpoint(cases, receiver.url)
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    cases.state.delivery.deliver(delivery_id)
    ep = cases.state.endpoints.endpoint(ep.id)
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
        assert cases.state.delivery.deliver(delivery_id) == "retry"
        delivery = cases.state.endpoints.delivery(delivery_id)
        assert delivery.last_status_code == 302 and delivery.status == "retrying"
        assert len(redirector.hits) == 1 and target.hits == []
    finally:
        target.close()
        redirector.close()


def test_urls_are_logged_without_userinfo_or_query(app, cases, desk, receiver, ctx, caplog):
    """A URL may carry Basic auth or a token; logs show only scheme, host, port and path."""
    port = receiver.server.server_address[1]
    url = f"http://alice:pa55word@127.0.0.1:{port}/hooks/cases?token=tok_123abc#frag"
    receiver.statuses = [500, 410]
    app.config["KRONCASES_WEBHOOK_DISABLE_AFTER"] = 10**9
    with caplog.at_level(logging.DEBUG, logger="flask_kroncases"):
        ep, _ = endpoint(cases, url)
        cases.state.endpoints.update_endpoint(ep, url, ep.events, enabled=True, description="Ops")
        create(cases, desk)
        delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
        assert cases.state.delivery.deliver(delivery_id) == "retry"
        cases.state.endpoints.redeliver(delivery_id)
        assert cases.state.delivery.deliver(delivery_id) == "disable"
    assert receiver.hits[0].path == "/hooks/cases?token=tok_123abc"     # the receiver still gets all of it
    assert receiver.hits[0].headers["authorization"].startswith("Basic ")
    logged = caplog.text
    assert f"http://127.0.0.1:{port}/hooks/cases" in logged                # URLs are logged ...
    for secret in ("alice", "pa55word", "token", "tok_123abc", "frag"):      # ... without these
        assert secret not in logged, secret
    assert any("disabled" in r.getMessage() and f"127.0.0.1:{port}/hooks/cases" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\nX-Injected: 1", "\x00", "\t", " ", "\x7f", "\x1b"])
def test_urls_with_whitespace_or_control_characters_are_refused(app, cases, ctx, bad):
    with pytest.raises(CaseError) as refused:
        cases.state.endpoints.create_endpoint(f"https://hooks.example.com/ca{bad}ses")
    assert refused.value.kind == "invalid" and "url" in refused.value.errors
    assert "control characters" in refused.value.errors["url"][0]
    assert cases.state.endpoints.endpoints() == []


def test_a_description_that_cannot_be_stored_is_refused(app, cases, receiver, ctx):
    for description in ("Ops\x00team", "Ops \ud800"):
        with pytest.raises(CaseError) as refused:
            cases.state.endpoints.create_endpoint(receiver.url, description=description)
        assert "cannot be saved" in refused.value.errors["description"][0]
    assert cases.state.endpoints.endpoints() == []


# -- leases: a claim outlasts any attempt; one that ran out means its worker died ---------------


def test_the_lease_outlasts_the_longest_attempt(app):
    from flask_kroncases.config import DEFAULTS
    from flask_kroncases.services.delivery import lease_seconds

    defaults = dict(DEFAULTS)
    assert lease_seconds(defaults) == 5.0 + 15.0 + 5.0
    assert lease_seconds({**defaults, "KRONCASES_WEBHOOK_READ_TIMEOUT": 60}) == 70
    assert lease_seconds({**defaults, "KRONCASES_WEBHOOK_CLAIM_TIMEOUT": 21}) == 21
    with pytest.raises(ValueError, match="must exceed"):
        lease_seconds({**defaults, "KRONCASES_WEBHOOK_CLAIM_TIMEOUT": 20})


def test_the_worker_refuses_a_lease_an_attempt_could_outlast(host, database, app_config):
    host_name = next(name for name, module in HOSTS.items() if module is host)
    config = {**app_config, "KRONCASES_WEBHOOK_CLAIM_TIMEOUT": 10, "KRONCASES_WEBHOOK_READ_TIMEOUT": 15}
    result = subprocess.run(flask_command("worker", "--burst"), env=worker_env(host_name, database, config), cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "KRONCASES_WEBHOOK_CLAIM_TIMEOUT (10 s) must exceed" in result.stderr


def test_a_live_attempt_keeps_its_lease(app, cases, desk, receiver, ctx):
    """The lease check runs while an attempt is in flight: it takes nothing back."""
    receiver.delay = 1.0
    endpoint(cases, receiver.url)
    create(cases, desk)
    delivery_id = cases.state.db.session.scalars(sa.select(cases.models.WebhookDelivery.id)).one()
    outcome: list[str] = []

    def attempt() -> None:
        with app.app_context():
            outcome.append(app.extensions["kroncases"].delivery.deliver(delivery_id))
            app.extensions["sqlalchemy"].session.remove()

    thread = threading.Thread(target=attempt)
    thread.start()
    receiver.wait_for(lambda h: len(h) == 1)
    assert cases.state.delivery.reclaim() == []
    assert cases.state.delivery.sweep() == 0
    thread.join(timeout=30)
    assert outcome == ["delivered"] and len(receiver.hits) == 1


def test_an_attempt_that_lost_its_lease_keeps_out_of_the_record(app, cases, desk, receiver, ctx, caplog):
    """A worker that stalled past its lease (taken for dead) must not overwrite what happened since."""
    endpoint(cases, receiver.url)
    create(cases, desk)
    session = cases.state.db.session
    Delivery = cases.models.WebhookDelivery
    delivery_id = session.scalars(sa.select(Delivery.id)).one()
    service = cases.state.delivery
    original = service.claim

    def claim_then_stall(delivery_id: int, now: Any) -> bool:
        claimed = original(delivery_id, now)
        # ... the worker stalls; its lease runs out and the lease check takes the delivery back.
        session.execute(sa.update(Delivery).where(Delivery.id == delivery_id)
                        .values(claimed_at=utcnow() - timedelta(hours=1)))
        session.commit()
        assert service.reclaim() == [delivery_id]
        return claimed

    service.claim = claim_then_stall  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, logger="flask_kroncases"):
            assert service.deliver(delivery_id) == "lost"
    finally:
        del service.claim
    assert "ended after its lease was taken back" in caplog.text
    session.expire_all()
    row = session.get(Delivery, delivery_id)
    assert (row.status, row.attempts) == ("retrying", 1)
    assert [(a.number, a.outcome) for a in row.attempt_log] == [(1, "lost")]
    assert service.deliver(delivery_id) == "delivered"   # the next attempt, as the reclaimed job would
    session.expire_all()
    assert [(a.number, a.outcome) for a in session.get(Delivery, delivery_id).attempt_log] == [(1, "lost"), (2, "delivered")]


def test_no_private_rq_attribute_is_used():
    """RQ only through its public API: none of RQ's ``_private`` names, no raw Redis reads of RQ's keys."""
    import ast
    import re

    import rq

    rq_private: set[str] = set()
    for path in Path(rq.__file__).parent.rglob("*.py"):
        rq_private.update(re.findall(r"\bself\.(_[a-z]\w*)", path.read_text()))
        rq_private.update(re.findall(r"^\s+def (_[a-z]\w*)", path.read_text(), re.M))
    assert "_shutdown_requested_date" in rq_private
    rq_private.discard("_get_current_object")   # Werkzeug's public proxy API, which RQ also calls
    offenders = []
    for path in (ROOT / "flask_kroncases").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            on_self = isinstance(node.value, ast.Name) and node.value.id == "self"
            if (node.attr in rq_private and not on_self) or node.attr in ("zrangebyscore", "zrange", "zscore"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_sigterm_stops_the_worker_for_good(host, database, app_config, start_worker):
    """The stop flag comes from RQ's public shutdown hook: SIGTERM ends the process, no restart."""
    import os
    import signal
    import time

    from redis import Redis
    from rq import Worker

    name = f"{app_config['KRONCASES_QUEUE_NAME']}-term"
    worker = start_worker("--name", name)
    # RQ installs its signal handlers only once its loop runs: wait until it waits for work
    # (state "idle"), not a fixed time, which a loaded machine can outlast.
    connection = Redis.from_url(app_config["KRONCASES_REDIS_URL"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        worker.assert_alive()
        found = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
        if found is not None and found.get_state() == "idle":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the worker never started waiting for jobs")
    os.kill(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait(timeout=20) == 0
    assert "starting again" not in worker.output()


# -- the conversation link in a webhook body never comes from the request ----------------------


def test_a_forged_host_header_never_reaches_a_webhook_body(database, queue_name, receiver):
    """The demo's conversation_url hook gives a path; the extension joins it to KRONCASES_BASE_URL."""
    from examples.host_app import create_app
    from examples.host_app.models import Conversation, Message, db

    demo = create_app({
        "TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": database.url,
        "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options, "WTF_CSRF_ENABLED": False,
        "KRONCASES_JOB_RUNNER": "rq", "KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
    })
    base = demo.config["KRONCASES_BASE_URL"]
    assert base and base.startswith("http")
    try:
        with demo.app_context():
            state = demo.extensions["kroncases"]
            _, secret = state.endpoints.create_endpoint(receiver.url, events=["case.created"])
            conversation = db.session.scalars(
                sa.select(Conversation).where(Conversation.team == "support").order_by(Conversation.id)).first()
            message_id = db.session.scalars(
                sa.select(Message.id).where(Message.conversation_id == conversation.id).order_by(Message.id)).first()
            conversation_id = conversation.id
        forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        client = demo.test_client()   # the session cookie belongs to the forged host too
        client.post("/login", data={"email": "alex@example.com", "password": "demo"}, headers=forged)
        response = client.post(
            f"/kroncases/api/conversations/{conversation_id}/cases",
            json={"title": "Locked out", "case_type": "access", "priority": "high", "summary": "s",
                  "message_ids": [str(message_id)]},
            headers=forged,
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        with demo.app_context():
            Delivery = state.models.WebhookDelivery
            row = db.session.scalars(sa.select(Delivery)).one()
            stored = row.body
            assert b"evil.example" not in stored
            url = json.loads(stored)["data"]["conversation"]["url"]
            assert url == f"{base.rstrip('/')}/conversations/{conversation_id}"
            assert state.delivery.deliver(row.id) == "delivered"
        [hit] = receiver.hits
        assert b"evil.example" not in hit.body and hit.body == stored
        assert "evil.example" not in str(hit.headers)
        assert verify(hit, secret)["data"]["case"]["conversation_url"].startswith(base)
    finally:
        with demo.app_context():
            db.session.remove()
            db.engine.dispose()
