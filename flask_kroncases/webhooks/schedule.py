"""When to try a webhook again, and what an attempt's result means.

The schedule is the Standard Webhooks / Svix one: quick retries for blips, then
spreading out over about three days (272,105 s) so a receiver that is down for a
day still gets every event.
"""

from __future__ import annotations

import random

from ..config import DEFAULT_RETRY_SCHEDULE
from ..enums import AttemptOutcome
from .sender import SendResult

#: The schedule lives in :mod:`flask_kroncases.config` (the default of
#: ``KRONCASES_WEBHOOK_RETRY_SCHEDULE``); this name is kept for imports.
DEFAULT_SCHEDULE: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE

#: The longest ``Retry-After`` honoured, so a receiver cannot park a delivery forever.
MAX_RETRY_AFTER: float = 24 * 3600

JITTER = 0.1

#: What :func:`classify` makes of an attempt: delivered, retry, disable or failed.
Verdict = AttemptOutcome


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
        return AttemptOutcome.FAILED
    if result.status_code is not None and 200 <= result.status_code < 300:
        return AttemptOutcome.DELIVERED
    if result.status_code == 410:
        return AttemptOutcome.DISABLE
    return AttemptOutcome.RETRY
