"""Redis clean-up for tests that run jobs on queues of their own."""

from __future__ import annotations

import os

from benchmarks.common import purge_queue as _purge_queue

REDIS_URL = os.environ.get("KRONCASES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def purge_queue(name: str, redis_url: str = REDIS_URL) -> None:
    """Remove every Redis key a test's queue left (``benchmarks.common.purge_queue``, on the tests' Redis)."""
    _purge_queue(name, redis_url)
