"""Faults: a worker killed mid-delivery, Redis restarted, PostgreSQL connections cut, a receiver that hangs.

Each test runs the real thing — ``flask kroncases worker`` processes, real
Redis, PostgreSQL, a receiver on 127.0.0.1 that processes each event id once
(as the README tells receivers to) — breaks one part, and shows what became of
every event: nothing lost, nothing processed twice. Delivery is at least once,
so a receiver may see an event id again after a fault; the tests count those
repeats and say when they are expected.

PostgreSQL only (the workers and the connection faults need a server), classic
host. Every wait is bounded.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from .conftest import REDIS_URL, Database, table_counts
from .hosts import classic
from .support.databases import DATABASES, PLAIN_URL, POSTGRES_URL, postgres_schema, search_path
from .support.faults import DedupReceiver, OwnRedis, free_port, kill_tree, wait_until
from .support.worker import WorkerProcess, worker_env

pytestmark = pytest.mark.skipif("postgresql" not in DATABASES, reason="fault tests need PostgreSQL")



@pytest.fixture
def host() -> Any:
    return classic


@pytest.fixture
def database() -> Iterator[Database]:
    with postgres_schema() as schema:
        yield Database("postgresql", POSTGRES_URL, search_path(schema))


@pytest.fixture
def app_config(queue_name: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    config = {
        "KRONCASES_REDIS_URL": REDIS_URL,
        "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
        "KRONCASES_WEBHOOK_RETRY_SCHEDULE": [0, 0.5, 0.5, 0.5, 0.5],
        "KRONCASES_WEBHOOK_CONNECT_TIMEOUT": 2.0,
        "KRONCASES_WEBHOOK_READ_TIMEOUT": 1.0,   # the lease: 2 + 1 + 5 s
        "KRONCASES_SWEEP_INTERVAL": 1,
        "KRONCASES_BASE_URL": "https://help.example.com",
    }
    for key, value in getattr(request.function, "kc_config", {}).items():
        if value is DEFAULT:
            config.pop(key, None)
        else:
            config[key] = value
    if "own_redis" in request.fixturenames:
        config["KRONCASES_REDIS_URL"] = request.getfixturevalue("own_redis").url
    return config


#: In ``with_config``: leave this key to the extension's default.
DEFAULT = object()


def with_config(**overrides: Any) -> Any:
    """Config of one test on top of the module's; ``DEFAULT`` removes a key."""

    def mark(fn: Any) -> Any:
        fn.kc_config = overrides
        return fn

    return mark


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[DedupReceiver]:
    r = DedupReceiver()
    yield r
    r.close()


@pytest.fixture
def start_worker(database: Database, app_config: dict[str, Any], tmp_path: Any) -> Iterator[Any]:
    workers: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(worker_env("classic", database, app_config), tmp_path / f"worker{len(workers)}.log", *args)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def make_case(cases: Any, desk: Any, index: int = 0) -> Any:
    """A case on one message of the desk's conversation (each index a different message)."""
    return cases.create_case(
        desk.conv(desk.conversation), [desk.messages[index]], title=f"Login fails ({index})",
        case_type="access", priority="high", summary="Locked out after a reset.", by=desk.user(desk.agent),
    )


def deliveries(cases: Any) -> list[Any]:
    session = cases.state.db.session
    session.expire_all()
    Delivery = cases.models.WebhookDelivery
    rows = list(session.scalars(sa.select(Delivery).order_by(Delivery.id)))
    session.commit()
    return rows


def all_delivered(cases: Any, count: int) -> bool:
    rows = deliveries(cases)
    return len(rows) == count and all(r.status == "delivered" for r in rows)


def make_events(cases: Any, desk: Any, count: int) -> None:
    """``count`` case.created events (at least four): cases on the desk's messages, then on new ones."""
    agent, conversation = desk.user(desk.agent), desk.conv(desk.conversation)
    for i in range(4):
        make_case(cases, desk, i)
    for key in more_messages(desk, count - 4):
        cases.create_case(conversation, [key], title=f"More {key}", case_type="access", priority="low",
                          summary="s", by=agent)


def more_messages(desk: Any, count: int) -> list[Any]:
    """Add messages to the desk's conversation; return their keys."""
    host, db = desk.host, desk.host.db
    conversation = desk.conv(desk.conversation)
    made = [host.make_message(conversation, f"Another message {i}") for i in range(count)]
    db.session.add_all(made)
    db.session.commit()
    return [host.key(m) for m in made]


# -- 1. a worker killed in the middle of a delivery ----------------------------------------------


DELIVERY_KEYS = ("KRONCASES_WEBHOOK_CONNECT_TIMEOUT", "KRONCASES_WEBHOOK_READ_TIMEOUT",
                 "KRONCASES_WEBHOOK_CLAIM_TIMEOUT", "KRONCASES_WEBHOOK_LEASE_CHECK_INTERVAL",
                 "KRONCASES_WEBHOOK_RETRY_SCHEDULE", "KRONCASES_SWEEP_INTERVAL")


@with_config(**dict.fromkeys(DELIVERY_KEYS, DEFAULT))
def test_worker_killed_mid_delivery_is_sent_again_within_30_s_by_another(
    app, cases, desk, receiver, start_worker, queue_name, ctx
):
    """Default settings: two workers, the one sending is SIGKILLed; the other sends the event
    again within 30 s, and only once the first attempt could no longer be running."""
    from rq.job import Job

    from flask_kroncases.config import DEFAULTS

    assert {key: app.config[key] for key in DELIVERY_KEYS} == {key: DEFAULTS[key] for key in DELIVERY_KEYS}
    longest_attempt = DEFAULTS["KRONCASES_WEBHOOK_CONNECT_TIMEOUT"] + DEFAULTS["KRONCASES_WEBHOOK_READ_TIMEOUT"]
    receiver.hangs = [12.0]          # the first request is still waiting when its worker dies
    cases.state.endpoints.create_endpoint(receiver.url)
    workers = [start_worker(), start_worker()]
    make_case(cases, desk)
    receiver.wait_for(lambda r: len(r.hits) == 1, 30, "first attempt")
    [row] = deliveries(cases)
    assert (row.status, row.attempts) == ("sending", 1)

    # RQ says which worker runs the job; SIGKILL it and everything below it:
    # work horse (RQ puts it in a process group of its own), scheduler, sweeper.
    queue = cases.state.jobs.rq_queue()
    [job_id] = queue.started_job_registry.get_job_ids()
    sender = Job.fetch(job_id, connection=cases.state.jobs.connection).worker_name
    [victim] = [w for w in workers if sender == f"{queue_name}-{w.log_path.stem}"]
    [survivor] = [w for w in workers if w is not victim]
    killed = kill_tree(victim.process.pid)
    killed_at = time.time()
    victim.process.wait(timeout=10)
    assert len(killed) >= 3
    # Nothing is fast-forwarded: RQ still lists the dead worker's job as started.
    assert queue.started_job_registry.get_job_ids() == [job_id]

    receiver.wait_for(lambda r: len(r.hits) == 2, 40, "second attempt")
    first, second = receiver.hits
    took = second.at - killed_at
    print(f"\nSIGKILL → redelivery: {took:.1f} s (first → second attempt: {second.at - first.at:.1f} s)")
    assert took <= 30, took
    # Never two attempts in flight: the second began after the first one's hard deadline.
    assert second.at - first.at >= longest_attempt
    wait_until(lambda: all_delivered(cases, 1), 20, "delivery marked delivered")
    [row] = deliveries(cases)
    # What happened: the receiver got the event twice (the first answer never
    # reached a live worker), processed it once; the row records both attempts.
    assert receiver.processed == [row.event_id]
    assert receiver.counts() == {row.event_id: 2}
    assert row.attempts == 2 and row.last_status_code == 200
    assert [(a.number, a.outcome) for a in row.attempt_log] == [(1, "lost"), (2, "delivered")]
    survivor.assert_alive()
    assert "took back 1 deliveries whose worker stopped mid-attempt" in survivor.output()
    time.sleep(3)   # more lease checks: nothing more is sent
    assert len(receiver.hits) == 2


def test_an_attempt_cut_off_by_a_killed_worker_is_logged(app, cases, desk, receiver, ctx):
    """The README: "every attempt is logged". A claimed attempt whose worker died leaves no log row.

    Reproduced without processes: claim (as a job does), then the worker is gone;
    the sweeper hands the delivery out again; the next attempt succeeds.
    """
    cases.state.endpoints.create_endpoint(receiver.url)
    make_case(cases, desk)
    [row] = deliveries(cases)
    service = cases.state.delivery
    from datetime import timedelta

    from flask_kroncases.models import utcnow

    lease = 2.0 + 1.0 + 5.0                          # connect + read timeouts + the margin
    assert service.claim(row.id, utcnow() - timedelta(seconds=lease - 1))   # attempt 1 starts ... its worker dies
    cases.state.jobs.rq_queue().empty()
    assert service.reclaim() == []                   # the lease still runs
    time.sleep(1.1)
    assert service.reclaim() == [row.id]             # ran out: taken back and enqueued
    assert cases.state.jobs.rq_queue().count == 1
    assert service.sweep() == 0                      # that job holds it now
    assert service.deliver(row.id) == "delivered"    # attempt 2
    [row] = deliveries(cases)
    assert row.attempts == 2
    assert [(a.number, a.outcome) for a in row.attempt_log] == [(1, "lost"), (2, "delivered")]


@with_config(KRONCASES_WEBHOOK_CLAIM_TIMEOUT=3.5)
def test_a_retry_scheduled_by_a_dead_worker_is_swept_again(app, cases, desk, ctx):
    """A worker that dies takes RQ's scheduler with it; RQ lets another worker take the
    scheduler over only at its maintenance run (every 10 minutes). Meanwhile the
    delivery's retry job sits in the ScheduledJobRegistry long past its time, and
    the sweeper counts it as held, so the delivery waits for up to ~10 minutes.

    Reproduced in-process: attempt 1 gets a 500 and schedules its retry in
    0.5 s; no scheduler runs (its worker died); 1.5 s later the sweeper should
    hand the overdue delivery out again (the claim keeps a late scheduler from
    sending it twice).
    """
    failing = DedupReceiver(status=500)
    try:
        cases.state.endpoints.create_endpoint(failing.url)
        make_case(cases, desk)
        cases.state.jobs.rq_queue().empty()              # attempt 1 is run here, not by its queued job
        [row] = deliveries(cases)
        assert cases.state.delivery.deliver(row.id) == "retry"
        from rq.registry import ScheduledJobRegistry

        assert len(ScheduledJobRegistry(queue=cases.state.jobs.rq_queue())) == 1
        time.sleep(1.0)   # due after ~0.5 s: late, but a scheduler may still move it
        assert cases.state.delivery.sweep() == 0
        time.sleep(3.5)   # overdue by more than the 3.5 s lease: no scheduler is left
        assert cases.state.delivery.sweep() == 1
    finally:
        failing.close()


# -- 2. Redis restarted mid-run ---------------------------------------------------------------------


def test_redis_restarted_mid_run_loses_no_event(app, cases, desk, receiver, own_redis, start_worker, ctx, caplog):
    cases.state.endpoints.create_endpoint(receiver.url)
    keys = more_messages(desk, 6)
    worker = start_worker()
    made = [make_case(cases, desk, i) for i in range(3)]
    receiver.wait_for(lambda r: len(r.processed) == 3, 30, "events before the restart")
    # Redis goes away while the worker is idle (waiting for a job); going away
    # during a job is test_worker_survives_redis_going_away_during_a_job.
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(queue=cases.state.jobs.rq_queue())
    wait_until(lambda: all_delivered(cases, 3) and len(registry) == 0, 20, "worker idle")
    time.sleep(0.3)

    own_redis.kill()                                  # Redis and every job in it are gone
    agent = desk.user(desk.agent)
    conversation = desk.conv(desk.conversation)
    while_down = [
        cases.create_case(conversation, [k], title=f"While Redis is down {k}", case_type="access",
                          priority="low", summary="s", by=agent)
        for k in keys[:3]
    ]
    rows = deliveries(cases)
    assert [r.status for r in rows[3:]] == ["pending"] * 3   # saved in the outbox, not lost
    assert "stays pending until the next sweep" in caplog.text
    time.sleep(1.5)   # the worker and its sweeper notice Redis is gone

    own_redis.start()                                 # an empty Redis on the same port
    after = [
        cases.create_case(conversation, [k], title=f"After the restart {k}", case_type="access",
                          priority="low", summary="s", by=agent)
        for k in keys[3:]
    ]
    try:
        wait_until(lambda: all_delivered(cases, 9), 60, "all nine deliveries delivered")
    except AssertionError:
        state = [(r.id, r.status, r.attempts, r.last_error) for r in deliveries(cases)]
        raise AssertionError(f"not all delivered: {state}\nworker log:\n{worker.output()[-3000:]}") from None
    rows = deliveries(cases)
    assert len(made + while_down + after) == 9
    assert sorted(receiver.processed) == sorted(r.event_id for r in rows)
    assert receiver.duplicates == 0                   # the database claim kept each event to one send
    assert all(r.attempts == 1 for r in rows)
    assert worker.process.poll() is None              # the worker rode it out
    assert "could not connect to Redis" in worker.output() or "sweep" in worker.output()


@with_config(KRONCASES_WEBHOOK_READ_TIMEOUT=10.0)
def test_worker_survives_redis_going_away_during_a_job(app, cases, desk, receiver, own_redis, start_worker, ctx):
    """RQ's forking worker asks Redis for the job's status while it watches the
    work horse; if Redis is gone then, ``Worker.work()`` raises ConnectionError
    ("found an unhandled exception, quitting"), its scheduler stops too, and the
    ``flask kroncases worker`` process exits. Nothing is lost (the rows stay in
    the outbox), but nothing is delivered until someone starts a worker again.
    """
    receiver.hangs = [1.0]
    cases.state.endpoints.create_endpoint(receiver.url)
    worker = start_worker()
    make_case(cases, desk)
    receiver.wait_for(lambda r: len(r.hits) == 1, 30, "the attempt in flight")
    own_redis.kill()
    time.sleep(3.0)                                   # the horse finishes its attempt while Redis is down
    own_redis.start()
    time.sleep(3.0)
    assert worker.process.poll() is None, worker.output()[-2000:]


# -- 3. PostgreSQL connection dropped during a case creation --------------------------------------


def _terminate(pid: int) -> None:
    """Cut one server connection from a connection of our own, and wait until it is gone."""
    with psycopg.connect(PLAIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 0:
                return
            time.sleep(0.02)


@pytest.mark.parametrize("moment", ["mid-transaction", "at-commit"])
def test_database_connection_cut_during_creation(app, cases, desk, receiver, api_as, start_worker, moment):
    app.config["PROPAGATE_EXCEPTIONS"] = False        # answer as in production, not raise into the test
    with app.app_context():
        cases.state.endpoints.create_endpoint(receiver.url)
        engine = cases.state.db.engine
    start_worker()
    api = api_as(desk.agent)
    before = table_counts(app, cases)
    cut: list[int] = []

    def backend_pid(conn: Any) -> int:
        return int(conn.connection.dbapi_connection.info.backend_pid)

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not cut and statement.lstrip().upper().startswith("INSERT INTO KRONCASES_ACTIVITY"):
            cut.append(backend_pid(conn))
            _terminate(cut[0])

    def on_commit(conn: Any) -> None:
        if not cut:
            cut.append(backend_pid(conn))
            _terminate(cut[0])

    body = {"title": "Locked out", "case_type": "access", "priority": "high", "summary": "s",
            "message_ids": [str(desk.messages[0])]}
    if moment == "mid-transaction":
        sa.event.listen(engine, "before_cursor_execute", on_statement)
    else:
        armed = [False]

        def on_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO KRONCASES_CASES"):
                armed[0] = True

        def on_commit_armed(conn: Any) -> None:
            if armed[0]:
                on_commit(conn)

        sa.event.listen(engine, "before_cursor_execute", on_insert)
        sa.event.listen(engine, "commit", on_commit_armed)
    try:
        response = api.post(f"/conversations/{desk.conversation}/cases", json=body)
    finally:
        if moment == "mid-transaction":
            sa.event.remove(engine, "before_cursor_execute", on_statement)
        else:
            sa.event.remove(engine, "before_cursor_execute", on_insert)
            sa.event.remove(engine, "commit", on_commit_armed)
    # What happened: the connection was cut, the request failed, nothing was written.
    assert cut, "the connection was not cut"
    assert response.status_code == 503, response.status_code
    assert response.json["error"] == "unavailable" and response.headers["Retry-After"] == "2"
    assert table_counts(app, cases) == before
    with app.app_context():
        assert deliveries(cases) == []
    # The pool dropped the dead connection: the agent's retry works, and the event goes out once.
    retry = api.post(f"/conversations/{desk.conversation}/cases", json=body)
    assert retry.status_code == 201, retry.get_data(as_text=True)
    receiver.wait_for(lambda r: len(r.processed) == 1, 30, "the retried case's event")
    with app.app_context():
        wait_until(lambda: all_delivered(cases, 1), 20, "delivered")
        [row] = deliveries(cases)
        event_id = row.event_id
    assert receiver.processed == [event_id] and receiver.duplicates == 0
    assert table_counts(app, cases)["kroncases_cases"] == before["kroncases_cases"] + 1


# -- 4. a receiver that hangs past the timeout ------------------------------------------------------


def test_receiver_hanging_past_the_timeout_is_retried_and_processed_once(app, cases, desk, receiver, start_worker, ctx):
    receiver.hangs = [3.0]            # KRONCASES_WEBHOOK_READ_TIMEOUT is 1 s
    cases.state.endpoints.create_endpoint(receiver.url)
    start_worker()
    began = time.monotonic()
    make_case(cases, desk)
    wait_until(lambda: all_delivered(cases, 1), 30, "delivered after the timeout")
    took = time.monotonic() - began
    [row] = deliveries(cases)
    log = [(a.number, a.status_code, a.outcome) for a in row.attempt_log]
    assert log == [(1, None, "retry"), (2, 200, "delivered")]
    assert "timed out after 1 s" in row.attempt_log[0].error
    # The receiver got the event twice (it was still busy with the first when the
    # sender gave up), processed it once.
    assert receiver.counts() == {row.event_id: 2}
    assert receiver.processed == [row.event_id]
    assert took < 15, took


# -- 5. batches: a worker killed mid-batch, a receiver down and back -------------------------------------


def receiver_on(port: int) -> DedupReceiver:
    """A deduplicating receiver on the given port of 127.0.0.1 (the endpoint's URL names it)."""
    found = DedupReceiver()
    found.server.shutdown()
    found.server.server_close()
    found.server = ThreadingHTTPServer(("127.0.0.1", port), found.server.RequestHandlerClass)
    found.server.daemon_threads = True
    threading.Thread(target=found.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return found


def test_worker_killed_mid_batch_loses_nothing_and_never_overlaps_an_attempt(
    app, cases, desk, receiver, start_worker, ctx
):
    """Six events wait for one worker, which claims them as one batch; its third request hangs
    and the worker is SIGKILLed there. Another worker takes the batch back once its leases run
    out and sends what was not recorded: every event is processed once, none is received more
    than twice, the hung one is sent again only after its attempt could no longer be running,
    and the three the dead worker never reached go out once."""
    from flask_kroncases.services.delivery import lease_seconds, longest_attempt

    receiver.hangs = [0.0, 0.0, 12.0]
    cases.state.endpoints.create_endpoint(receiver.url)
    make_events(cases, desk, 6)
    assert cases.state.jobs.rq_queue().count == 1        # six events, one job for their endpoint
    first = start_worker()
    receiver.wait_for(lambda r: len(r.hits) == 3, 30, "the third request")
    kill_tree(first.process.pid)
    first.process.wait(timeout=10)
    rows = deliveries(cases)
    assert [r.status for r in rows] == ["sending"] * 6   # one batch held all six
    never_reached = {r.event_id for r in rows[3:]}
    hung = receiver.hits[2].event_id

    survivor = start_worker()
    try:
        wait_until(lambda: all_delivered(cases, 6), 60, "all six delivered")
    except AssertionError:
        raise AssertionError(f"{[(r.id, r.status, r.attempts) for r in deliveries(cases)]}\n"
                             f"{survivor.output()[-3000:]}") from None
    rows = deliveries(cases)
    assert sorted(receiver.processed) == sorted(r.event_id for r in rows)   # each processed once, none lost
    counts = receiver.counts()
    assert max(counts.values()) <= 2
    assert all(counts[event_id] == 1 for event_id in never_reached)
    times = [hit.at for hit in receiver.hits if hit.event_id == hung]
    assert len(times) == 2 and times[1] - times[0] >= longest_attempt(app.config)   # never two at once
    for row in rows:
        log = [(a.number, a.outcome) for a in row.attempt_log]
        assert log[-1] == (row.attempts, "delivered") and [n for n, _ in log] == list(range(1, row.attempts + 1))
    assert re.search(r"took back [3-6] deliveries", survivor.output())
    assert lease_seconds(app.config) > longest_attempt(app.config)


@with_config(KRONCASES_WEBHOOK_RETRY_SCHEDULE=[0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
def test_a_receiver_down_then_back_gets_every_event_once(app, cases, desk, start_worker, ctx):
    """Nothing listens on the endpoint's port: eight events fail and wait for their retries
    (one wake-up job for the endpoint, not one per delivery). Then the receiver comes up on that
    port, and every event arrives, once each."""
    from rq.registry import ScheduledJobRegistry

    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/cases"
    cases.state.endpoints.create_endpoint(url)
    start_worker()
    make_events(cases, desk, 8)
    wait_until(lambda: all(r.status == "retrying" for r in deliveries(cases)), 30, "every delivery failed once")
    registry = ScheduledJobRegistry(queue=cases.state.jobs.rq_queue())
    assert len(registry) <= 2                            # a wake-up for the endpoint, not eight retries

    back = receiver_on(port)
    try:
        wait_until(lambda: all_delivered(cases, 8), 60, "all eight delivered")
        rows = deliveries(cases)
        assert sorted(back.processed) == sorted(r.event_id for r in rows)
        assert back.duplicates == 0
        for row in rows:
            outcomes = [a.outcome for a in row.attempt_log]
            assert outcomes[-1] == "delivered" and set(outcomes[:-1]) == {"retry"} and len(outcomes) >= 2
    finally:
        back.close()
