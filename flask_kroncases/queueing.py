"""Where background jobs go: RQ on Redis, or a thread pool for the demo.

Services hand work to :class:`JobQueue` after they commit. The database is the
source of truth for deliveries and summaries, so a job that Redis loses is found
again by the sweeper; an enqueue that fails only logs and leaves the row pending.

Two helpers keep webhook delivery to one job per endpoint: :meth:`JobQueue.enqueue_once`
does not queue a job while an equal one still waits, and :meth:`JobQueue.lock`
lets one job at a time send to an endpoint. Both only save work: if Redis forgets
them (a restart) a second job may run, and the database claims still keep every
delivery to one attempt at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from flask import Flask

log = logging.getLogger("flask_kroncases.jobs")

#: How long the note "a job for this key waits in the queue" is kept; a job
#: still waiting after that only means a second one may be queued beside it.
ONCE_TTL = 3600
#: Kept while an enqueue is under way, so a concurrent caller does not queue a twin.
_ENQUEUING = b"enqueuing"
#: RQ statuses of a job that has not started yet.
_WAITING = ("queued", "scheduled", "deferred")


class EnqueueError(RuntimeError):
    """The job could not be handed to the queue (Redis down or unreachable)."""


class JobLock:
    """A lock one job holds while it works on something (one webhook endpoint).

    On Redis it expires after ``ttl`` seconds unless extended, so a job whose
    worker died frees it by itself. Redis errors never raise: losing the lock
    only lets a second job in, which the database claims make harmless.
    """

    def __init__(self, connection: Any, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = ttl
        self._redis = connection
        self._lock: Any = None
        self._local: threading.Lock | None = None
        self.expires = 0.0

    def acquire(self) -> bool:
        from redis.exceptions import RedisError

        try:
            self._lock = self._redis.lock(self.name, timeout=self.ttl, blocking=False, thread_local=False)
            acquired = bool(self._lock.acquire(blocking=False))
        except RedisError as exc:
            log.warning("could not take the lock %s, going on without it: %s", self.name, exc)
            self._lock = None
            acquired = True
        if acquired:
            self.expires = time.monotonic() + self.ttl
        return acquired

    def extend(self) -> None:
        """Start the lock's time afresh."""
        from redis.exceptions import LockError, RedisError

        self.expires = time.monotonic() + self.ttl
        if self._lock is None:
            return
        try:
            self._lock.extend(self.ttl, replace_ttl=True)
        except (LockError, RedisError) as exc:
            log.warning("the lock %s was lost (going on, the database claims still hold): %s", self.name, exc)

    def remaining(self) -> float:
        """Seconds until the lock, as someone else holds it, runs out (0 when nobody does)."""
        from redis.exceptions import RedisError

        try:
            milliseconds = int(self._redis.pttl(self.name))
        except RedisError:
            return 0.0
        return max(0.0, milliseconds / 1000)

    def release(self) -> None:
        from redis.exceptions import LockError, RedisError

        if self._lock is None:
            return
        try:
            self._lock.release()
        except (LockError, RedisError):
            pass
        self._lock = None


class _ThreadLock(JobLock):
    """The same inside one process, for the thread runner: a holder is always alive."""

    def __init__(self, lock: threading.Lock, name: str, ttl: float) -> None:
        super().__init__(None, name, ttl)
        self._local = lock

    def acquire(self) -> bool:
        assert self._local is not None
        acquired = self._local.acquire(blocking=False)
        if acquired:
            self.expires = time.monotonic() + self.ttl
            self._lock = True
        return acquired

    def extend(self) -> None:
        self.expires = time.monotonic() + self.ttl

    def remaining(self) -> float:
        return 0.0

    def release(self) -> None:
        if self._lock is not None and self._local is not None:
            self._local.release()
        self._lock = None


class JobQueue:
    """Enqueue a job function now or after a delay, the way the app is configured."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self.runner: str = app.config["KRONCASES_JOB_RUNNER"]
        if self.runner not in ("rq", "thread"):
            raise ValueError(f"KRONCASES_JOB_RUNNER must be 'rq' or 'thread', not {self.runner!r}")
        self.redis_url: str = app.config["KRONCASES_REDIS_URL"]
        self.queue_name: str = app.config["KRONCASES_QUEUE_NAME"]
        self._redis: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # Thread runner: keys with a job that has not started, and the locks of running ones.
        self._waiting: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}

    # -- RQ ------------------------------------------------------------------

    @property
    def connection(self) -> Any:
        """The Redis connection, made on first use (short timeouts: never hang a request)."""
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(
                self.redis_url, socket_connect_timeout=2, socket_timeout=5
            )
        return self._redis

    def rq_queue(self) -> Any:
        from rq import Queue

        return Queue(self.queue_name, connection=self.connection)

    def key(self, *parts: object) -> str:
        """A Redis key of ours for this queue."""
        return ":".join(("kroncases", self.queue_name, *(str(p) for p in parts)))

    def enqueue(
        self, func: Callable[..., Any], *args: Any, delay: float = 0, job_timeout: int = 180
    ) -> str | None:
        """Run ``func(*args)`` in the background; return the RQ job id, if any.

        Raises :class:`EnqueueError` when the job could not be queued.
        """
        if self.runner == "thread":
            self._submit_thread(func, args, delay)
            return None
        from redis.exceptions import RedisError

        try:
            queue = self.rq_queue()
            if delay > 0:
                job = queue.enqueue_in(timedelta(seconds=delay), func, *args, job_timeout=job_timeout)
            else:
                job = queue.enqueue(func, *args, job_timeout=job_timeout)
        except (RedisError, OSError) as exc:
            raise EnqueueError(f"could not enqueue {func.__name__}: {exc}") from exc
        return job.id  # type: ignore[no-any-return]

    def enqueue_once(
        self, key: str, func: Callable[..., Any], *args: Any, delay: float = 0, job_timeout: int = 180,
        force: bool = False,
    ) -> bool:
        """Like :meth:`enqueue`, unless a job enqueued under ``key`` has not started yet
        and is due no later than this one would be; return whether a job was queued.

        The job reads what to do when it starts, so one waiting job serves every
        caller that came before it started. Redis notes the job under ``key``
        (set-if-absent, so callers at the same moment queue one job); a note
        whose job started, finished or vanished no longer counts. Two callers
        replacing such a note at the same moment may both queue one: harmless,
        the second job finds less or nothing to do. ``force`` queues one all the
        same (the sweeper, which saw in RQ's registries that none waits).
        """
        due = time.time() + max(0.0, delay)
        if self.runner == "thread":
            with self._lock:
                waiting = self._waiting.get(key)
                if waiting is not None and waiting <= due + 0.001 and not force:
                    return False
                self._waiting[key] = due
            self._submit_thread(func, args, delay, once=(key, due))
            return True
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        name = self.key("once", key)
        redis = self.connection
        try:
            if not redis.set(name, _ENQUEUING, nx=True, ex=10) and not force:
                held = redis.get(name)
                if held == _ENQUEUING:
                    return False
                if held:
                    job_id, _, held_due = held.decode().partition(" ")
                    try:
                        status = Job.fetch(job_id, connection=redis).get_status(refresh=False)
                    except NoSuchJobError:
                        status = None
                    if status in _WAITING and float(held_due or 0) <= due + 0.001:
                        return False
            try:
                job_id = self.enqueue(func, *args, delay=delay, job_timeout=job_timeout)
            except EnqueueError:
                redis.delete(name)
                raise
            redis.set(name, f"{job_id} {due:.3f}", ex=ONCE_TTL + int(delay))
        except (RedisError, OSError) as exc:
            raise EnqueueError(f"could not enqueue {func.__name__}: {exc}") from exc
        return True

    def lock(self, key: str, ttl: float) -> JobLock:
        """A lock on ``key`` (not yet taken) that runs out after ``ttl`` seconds unless extended."""
        if self.runner == "thread":
            with self._lock:
                local = self._locks.setdefault(key, threading.Lock())
            return _ThreadLock(local, key, ttl)
        return JobLock(self.connection, self.key("lock", key), ttl)

    # -- threads (demo) ----------------------------------------------------

    def _submit_thread(
        self, func: Callable[..., Any], args: tuple[Any, ...], delay: float, once: tuple[str, float] | None = None
    ) -> None:
        app = self._app

        def run() -> None:
            if once is not None:
                with self._lock:
                    if self._waiting.get(once[0]) == once[1]:
                        del self._waiting[once[0]]
            with app.app_context():
                try:
                    func(*args)
                except Exception:  # a background job has no caller to tell
                    log.exception("background job %s failed", func.__name__)

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kroncases-job")
            pool = self._pool
        if delay > 0:
            timer = threading.Timer(delay, pool.submit, args=(run,))
            timer.daemon = True
            timer.start()
        else:
            pool.submit(run)
