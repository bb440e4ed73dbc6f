"""When to try a webhook again, and what an attempt's result means.

The schedule is the Standard Webhooks / Svix one: quick retries for blips, then
spreading out over about three days so a receiver that is down for a day still
gets every event.
"""

from __future__ import annotations

import random
from typing import Literal

from .sender import SendResult

#: Delay in seconds before each attempt: now, 5 s, 5 min, 30 min, 2 h, 5 h,
#: 10 h, 14 h, 20 h, 24 h; ten attempts in all.
DEFAULT_SCHEDULE: tuple[float, ...] = (
    0,
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
)

#: The longest ``Retry-After`` honoured, so a receiver cannot park a delivery forever.
MAX_RETRY_AFTER: float = 24 * 3600

JITTER = 0.1

Verdict = Literal["delivered", "retry", "disable", "failed"]


def next_delay(
    attempt: int,
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
    *,
    rng: random.Random | None = None,
    retry_after: float | None = None,
) -> float | None:
    """Seconds to wait before the next attempt, or ``None`` when none is left.

    ``attempt`` is how many attempts were made so far (``0`` gives the first,
    immediate one). The delay is jittered by ±10% so retries of many deliveries
    spread out instead of arriving together. A ``retry_after`` from the receiver
    (capped at :data:`MAX_RETRY_AFTER`) is waited out if it is longer.
    """
    if attempt < 0 or attempt >= len(schedule):
        return None
    delay = schedule[attempt] * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def classify(result: SendResult) -> Verdict:
    """What to do after an attempt.

    2xx is delivered; 410 Gone means the receiver asks to be disabled; a refused
    URL (scheme or address) fails for good since retrying cannot change it.
    Everything else, including 3xx, 4xx, 5xx, 429/503 (whose ``Retry-After`` is
    in ``result.retry_after`` for :func:`next_delay`), timeouts and connection
    errors, is retried.
    """
    if result.refused:
        return "failed"
    if result.status_code is not None and 200 <= result.status_code < 300:
        return "delivered"
    if result.status_code == 410:
        return "disable"
    return "retry"
