"""Where background jobs go: RQ on Redis, or a thread pool for the demo.

Services hand work to :class:`JobQueue` after they commit. The database is the
source of truth for deliveries and summaries, so a job that Redis loses is found
again by the sweeper; an enqueue that fails only logs and leaves the row pending.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from flask import Flask

log = logging.getLogger("flask_kroncases.jobs")


class EnqueueError(RuntimeError):
    """The job could not be handed to the queue (Redis down or unreachable)."""


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

    # -- threads (demo) ----------------------------------------------------

    def _submit_thread(self, func: Callable[..., Any], args: tuple[Any, ...], delay: float) -> None:
        app = self._app

        def run() -> None:
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
