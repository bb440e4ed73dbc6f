"""Redis clean-up for tests that run jobs on queues of their own."""

from __future__ import annotations

import os

from redis import Redis

REDIS_URL = os.environ.get("KRONCASES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def purge_queue(name: str, redis_url: str = REDIS_URL) -> None:
    """Remove every Redis key a test's queue left: its jobs and their results, registries, workers, scheduler lock.

    Job and result keys are named by job id only, so the ids are collected from the
    queue and its registries first; everything else carries the queue name (the
    tests name their workers after the queue too).
    """
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
