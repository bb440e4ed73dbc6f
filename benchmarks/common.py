"""What every benchmark script needs: a throwaway database and a statement counter."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from . import host

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_database(name: str, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """A database URL and engine options: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"kroncases-{label}-") as tmp:
            yield f"sqlite:///{tmp}/{label}.sqlite", {}
        return
    import psycopg

    schema = f"bench_{label}_{uuid.uuid4().hex[:10]}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield POSTGRES_URL, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def count_statements(app: Any, fn: Callable[[], Any]) -> int:
    """How many SQL statements ``fn`` sends to the app's database."""
    with app.app_context():
        engine = host.db.engine
    seen = [0]

    def count(*args: Any) -> None:
        seen[0] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen[0]


def purge_queue(name: str, redis_url: str) -> None:
    """Remove every Redis key a queue of a test or benchmark run left: jobs, results, registries, workers, locks.

    Job and result keys are named by job id only, so the ids are collected from the
    queue and its registries first; everything else carries the queue name (the
    tests and benchmarks name their workers after the queue too).
    """
    from redis import Redis
    from rq import Queue

    redis = Redis.from_url(redis_url)
    queue = Queue(name, connection=redis)
    registries = (queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
                  queue.deferred_job_registry, queue.scheduled_job_registry, queue.canceled_job_registry)
    job_ids = set(queue.get_job_ids())
    for registry in registries:
        registered: list[bytes] = redis.zrange(registry.key, 0, -1)  # type: ignore[assignment]
        job_ids.update(member.decode().split(":")[0] for member in registered)  # job_id[:execution]
    keys = set(redis.scan_iter(f"*{name}*", count=1000))
    if job_ids:  # rq:job:<id>, rq:results:<id>, rq:job:<id>:dependents ...: one pass over rq:*
        keys.update(k for k in redis.scan_iter("rq:*", count=1000) if set(k.decode().split(":")[2:3]) & job_ids)
    if keys:
        redis.delete(*keys)
    for members in ("rq:queues", "rq:workers"):
        stale = [m for m in redis.smembers(members) if name.encode() in m]
        if stale:
            redis.srem(members, *stale)
    redis.close()
