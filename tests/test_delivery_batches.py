"""Webhook deliveries in batches: the claim, one job per endpoint, slow endpoints, the warm worker, pruning.

The claim and pruning run on SQLite and PostgreSQL; coalescing uses the real
Redis; the slow endpoint runs two real ``flask kroncases worker`` processes on
PostgreSQL against receivers on 127.0.0.1. No assertion is about time: every
wait is a bounded wait for something to happen.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases import jobs
from flask_kroncases.models import utcnow

from .conftest import REDIS_URL, Database
from .hosts import classic, make_app
from .support.databases import DATABASES, POSTGRES_URL, postgres_schema, search_path
from .support.faults import wait_until
from .support.receiver import QuietHandler, Receiver, hook_url, serve
from .support.worker import WorkerProcess, worker_env
from .test_webhooks import app_config  # noqa: F401  (fixture: the worker, the queue and a fast retry schedule)


@pytest.fixture
def host() -> Any:
    return classic


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def outbox(cases: Any, endpoint: Any, count: int, **values: Any) -> list[int]:
    """``count`` deliveries to ``endpoint`` written straight to the outbox (no job queued); their ids."""
    service = cases.state.delivery
    session = cases.state.db.session
    rows = [service.new_delivery(endpoint, "ping", None, {"n": n}, utcnow()) for n in range(count)]
    for row in rows:
        for key, value in values.items():
            setattr(row, key, value)
    session.add_all(rows)
    session.commit()
    return [row.id for row in rows]


def statuses(cases: Any) -> dict[int, tuple[str, int]]:
    session = cases.state.db.session
    session.expire_all()
    Delivery = cases.models.WebhookDelivery
    found = {r.id: (r.status, r.attempts) for r in session.scalars(sa.select(Delivery))}
    session.commit()
    return found


# -- the batch claim ----------------------------------------------------------------------------------


def test_concurrent_claimers_never_get_the_same_delivery(app, cases, database, ctx):
    """Four claimers at once, each in its own session and connection, take batches until none is left:
    every delivery is claimed exactly once, with one attempt counted."""
    endpoint, _ = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook")
    ids = outbox(cases, endpoint, 60)
    endpoint_id = endpoint.id
    claimed: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def claimer() -> None:
        mine: list[int] = []
        try:
            with app.app_context():
                service = app.extensions["kroncases"].delivery
                start.wait(timeout=10)
                while batch := service.claim_batch(endpoint_id, utcnow(), 7):
                    assert len(batch) <= 7
                    mine += [claim.id for claim in batch]
                app.extensions["sqlalchemy"].session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)
        claimed.append(mine)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [delivery_id for mine in claimed for delivery_id in mine]
    assert sorted(every) == sorted(ids)                       # each one claimed, none twice
    assert set(statuses(cases).values()) == {("sending", 1)}


def test_a_claim_skips_rows_another_claimer_holds(app, cases, ctx):
    """PostgreSQL: rows another claimer has locked (its claim not yet committed) are skipped,
    not waited for (``FOR UPDATE SKIP LOCKED``)."""
    if cases.state.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    endpoint, _ = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook")
    ids = outbox(cases, endpoint, 8)
    Delivery = cases.models.WebhookDelivery
    got: list[list[int]] = []

    def claim() -> None:
        with app.app_context():
            batch = app.extensions["kroncases"].delivery.claim_batch(endpoint.id, utcnow(), 4)
            got.append([c.id for c in batch])
            app.extensions["sqlalchemy"].session.remove()

    with cases.state.db.engine.connect() as other:
        other.execute(sa.select(Delivery.id).where(Delivery.id.in_(ids[:3])).with_for_update())   # uncommitted
        thread = threading.Thread(target=claim)
        thread.start()
        thread.join(timeout=20)
        waited = thread.is_alive()
        other.rollback()   # a claim that waited goes on now, so the thread ends either way
    thread.join(timeout=20)
    assert not waited, "the claim waited for the other transaction's row locks"
    assert got == [ids[3:7]]


# -- one job per endpoint ----------------------------------------------------------------------------


def test_events_to_one_endpoint_share_one_queued_job(app, cases, receiver, ctx):
    """Five events to one endpoint while no worker runs: one job in the queue, not five; another
    endpoint gets its own. The job sends all five; the next events queue one job again."""
    from rq import SimpleWorker

    service = cases.state.endpoints
    first, _ = service.create_endpoint(receiver.url)
    second, _ = service.create_endpoint(receiver.url + "/other")
    queue = cases.state.jobs.rq_queue()
    for _ in range(5):
        service.send_test_event(first)
    assert queue.count == 1
    service.send_test_event(second)
    assert queue.count == 2
    jobs_queued = [queue.fetch_job(job_id) for job_id in queue.get_job_ids()]
    assert sorted((job.func_name, job.args) for job in jobs_queued) == [
        ("flask_kroncases.jobs.deliver_endpoint", (first.id,)),
        ("flask_kroncases.jobs.deliver_endpoint", (second.id,)),
    ]

    SimpleWorker([queue], connection=cases.state.jobs.connection).work(burst=True)
    assert len(receiver.hits) == 6
    assert set(statuses(cases).values()) == {("delivered", 1)}
    for _ in range(3):
        service.send_test_event(first)
    assert queue.count == 1


def test_the_thread_runner_coalesces_too(tmp_path, receiver):
    """The demo's thread runner: the same one-job-per-endpoint rule, inside the process."""
    app, cases = make_app(classic, f"sqlite:///{tmp_path / 'demo.sqlite'}", KRONCASES_JOB_RUNNER="thread",
                          KRONCASES_WEBHOOK_ALLOW_PRIVATE=["127.0.0.1/32"])
    ran: list[int] = []
    gate = threading.Event()
    real = jobs.deliver_endpoint

    def held(endpoint_id: int) -> int:
        gate.wait(10)
        ran.append(endpoint_id)
        return real(endpoint_id)

    with app.app_context():
        classic.db.create_all()
        endpoint, _ = cases.state.endpoints.create_endpoint(receiver.url)
        queue = cases.state.jobs
        # Both pool threads busy: what is enqueued now waits, as a job in the queue does.
        blockers = [threading.Event() for _ in range(2)]
        for blocker in blockers:
            queue.enqueue(blocker.wait, 10)
        assert queue.enqueue_once(f"deliver:{endpoint.id}", held, endpoint.id) is True
        assert queue.enqueue_once(f"deliver:{endpoint.id}", held, endpoint.id) is False
        for blocker in blockers:
            blocker.set()
        gate.set()
        wait_until(lambda: ran == [endpoint.id], 10, "the one job ran")
        assert queue.enqueue_once(f"deliver:{endpoint.id}", held, endpoint.id) is True   # it started: a new one may queue
        wait_until(lambda: len(ran) == 2, 10, "the second job ran")
        classic.db.session.remove()
        classic.db.engine.dispose()


# -- a slow endpoint ------------------------------------------------------------------------------------


class BlockingReceiver:
    """Holds every request until ``release`` is set, then answers 200; records the event ids."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.event_ids: list[str] = []
        self.arrived = threading.Semaphore(0)
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.event_ids.append(self.headers.get("webhook-id", "?"))
                receiver.arrived.release()
                receiver.release.wait(60)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server: ThreadingHTTPServer = serve(Handler)

    @property
    def url(self) -> str:
        return hook_url(self.server)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pg_database() -> Iterator[Database]:
    with postgres_schema() as schema:
        yield Database("postgresql", POSTGRES_URL, search_path(schema))


@pytest.mark.skipif("postgresql" not in DATABASES, reason="worker processes need PostgreSQL")
def test_a_slow_endpoint_holds_up_no_other(pg_database, queue_name, tmp_path, receiver):
    """Two default workers; endpoint A's receiver holds every request, B's answers at once.

    While A's first request hangs, B gets all three events: the second A job
    finds A busy and leaves instead of taking the other worker too. Then A is
    released and gets its three events, each once.
    """
    config = {
        "KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"], "KRONCASES_SWEEP_INTERVAL": 1,
        "KRONCASES_WEBHOOK_READ_TIMEOUT": 60.0,    # A's attempt is never cut off during the test
    }
    app, cases = make_app(classic, pg_database.url, pg_database.engine_options, **config)
    slow = BlockingReceiver()
    workers: list[WorkerProcess] = []
    try:
        with app.app_context():
            classic.db.create_all()
            service = cases.state.endpoints
            endpoint_a, _ = service.create_endpoint(slow.url)
            endpoint_b, _ = service.create_endpoint(receiver.url)
            env = worker_env("classic", pg_database, config)
            workers = [WorkerProcess(env, tmp_path / f"worker{i}.log") for i in range(2)]
            for n in range(3):
                service.send_test_event(endpoint_a)
                service.send_test_event(endpoint_b)
                if n == 0:
                    assert slow.arrived.acquire(timeout=60), "A's first request never came"
                receiver.wait_for(lambda hits, n=n: len(hits) == n + 1, timeout=60)
            assert len(slow.event_ids) == 1 and not slow.release.is_set()   # A still holds its first request
            for worker in workers:
                worker.assert_alive()

            slow.release.set()
            Delivery = cases.models.WebhookDelivery

            def a_done() -> bool:
                rows = statuses(cases)
                return len(rows) == 6 and all(status == "delivered" for status, _ in rows.values())

            wait_until(a_done, 60, "every delivery delivered")
            a_events = set(classic.db.session.scalars(
                sa.select(Delivery.event_id).where(Delivery.endpoint_id == endpoint_a.id)))
            assert sorted(slow.event_ids) == sorted(a_events)      # each of A's events once
            assert len(receiver.hits) == 3
            classic.db.session.remove()
    finally:
        slow.close()
        for worker in workers:
            worker.stop()
        with app.app_context():
            classic.db.session.remove()
            classic.db.engine.dispose()


# -- the warm worker -------------------------------------------------------------------------------------


def test_a_forked_work_horse_finds_the_delivery_statements_compiled(app, cases, ctx, monkeypatch):
    """``jobs.warm_up`` (the worker runs it before it forks its first horse) compiles the batch's
    statements and freezes the garbage collector's view of the worker: a horse forked afterwards
    claims without compiling a statement of its own."""
    from sqlalchemy.engine.interfaces import CacheStats

    endpoint, _ = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook")
    outbox(cases, endpoint, 2)
    engine = cases.state.db.engine
    monkeypatch.setattr(jobs, "_worker_app", None)
    monkeypatch.setattr(jobs, "_engine_pid", None)
    jobs.bind_app(app)
    try:
        jobs.warm_up()
        assert gc.get_freeze_count() > 0
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:   # the horse: report what it claimed and every statement it had to compile
            os.close(read)
            compiled: list[str] = []

            def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
                if context.cache_hit is not CacheStats.CACHE_HIT:
                    compiled.append(f"{context.cache_hit.name}: {statement[:60]}")

            try:
                sa.event.listen(engine, "after_cursor_execute", seen)
                with jobs.job_context() as state:
                    claimed = [c.id for c in state.delivery.claim_batch(endpoint.id, utcnow(), 10)]
                os.write(write, json.dumps([claimed, compiled]).encode())
            finally:
                os._exit(0)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.waitpid(pid, 0)
    finally:
        gc.unfreeze()
    claimed, compiled = json.loads(data)
    assert len(claimed) == 2
    assert compiled == []


# -- pruning the log ---------------------------------------------------------------------------------------


def test_the_sweep_prunes_old_delivered_and_failed_deliveries_in_bounded_batches(app, cases, ctx):
    session = cases.state.db.session
    Delivery, Attempt = cases.models.WebhookDelivery, cases.models.WebhookAttempt
    endpoint, _ = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook")
    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    doomed = outbox(cases, endpoint, 3, status="delivered", attempts=1, created_at=old, delivered_at=old)
    doomed += outbox(cases, endpoint, 2, status="failed", attempts=4, created_at=old)
    kept = outbox(cases, endpoint, 1, status="pending", created_at=old - timedelta(days=300))
    kept += outbox(cases, endpoint, 1, status="retrying", attempts=2, created_at=old, next_attempt_at=now)
    kept += outbox(cases, endpoint, 1, status="sending", attempts=1, created_at=old, claimed_at=now)
    kept += outbox(cases, endpoint, 1, status="delivered", attempts=1, created_at=recent, delivered_at=recent)
    # Made long ago, redelivered by hand and delivered two days ago: it counts from then.
    kept += outbox(cases, endpoint, 1, status="delivered", attempts=2, created_at=old,
                   delivered_at=now - timedelta(days=2))
    session.add_all(Attempt(delivery_id=d, number=1, outcome="delivered") for d in doomed + kept)
    session.commit()

    deletes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(f"DELETE FROM {Delivery.__tablename__.upper()}"):
            deletes.append(statement)

    service = cases.state.delivery
    service.prune_batch_size, service.prune_batches = 2, 1
    engine = cases.state.db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert service.prune() == 2                          # one batch of two, then it stops
        assert len(deletes) == 1
        service.prune_batches = 10
        jobs.sweep()                                         # the worker's sweep prunes the rest ...
        assert len(deletes) == 3                             # ... two at a time: 2 + 2 + 1
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    remaining = set(session.scalars(sa.select(Delivery.id)))
    assert remaining == set(kept)
    assert set(session.scalars(sa.select(Attempt.delivery_id))) == set(kept)   # their attempts went too


def test_no_retention_keeps_the_whole_log(app, cases, ctx):
    app.config["KRONCASES_WEBHOOK_LOG_RETENTION"] = None
    endpoint, _ = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook")
    ancient = utcnow() - timedelta(days=3000)
    outbox(cases, endpoint, 2, status="delivered", attempts=1, created_at=ancient, delivered_at=ancient)
    assert cases.state.delivery.prune() == 0
    assert len(statuses(cases)) == 2


@pytest.mark.parametrize("value", [30, "30 days", timedelta(0), timedelta(days=-1)])
def test_the_retention_is_checked_at_init_app(tmp_path, value):
    with pytest.raises(ValueError, match="KRONCASES_WEBHOOK_LOG_RETENTION must be a positive timedelta"):
        make_app(classic, f"sqlite:///{tmp_path / 'x.sqlite'}", KRONCASES_WEBHOOK_LOG_RETENTION=value)


def test_the_retention_default_is_thirty_days(tmp_path):
    app, _ = make_app(classic, f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert app.config["KRONCASES_WEBHOOK_LOG_RETENTION"] == timedelta(days=30)
