"""Due times: when a case should be resolved by, and when it is overdue.

The clock starts when a case is created or reopened and runs for
``KRONCASES_DUE_AFTER[priority]`` seconds. Time spent pending does not count:
leaving pending moves the due time on by the wait. Resolving clears it. A
pending case is overdue only if it already was when it started waiting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..enums import WORKING, Priority, Status
from ..models import as_utc

#: The longest time to a due time KRONCASES_DUE_AFTER may give, in seconds (3,660 days, ten
#: years and more): a longer one is no due time, and a far longer one (or infinity) is past
#: any date Python and the databases can hold, so every new case would fail.
MAX_DUE_AFTER = 3660 * 24 * 3600


def _seconds(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 < value <= MAX_DUE_AFTER)


def check_due_after(config: Mapping[str, Any]) -> None:
    """Refuse a ``KRONCASES_DUE_AFTER`` that does not give every priority a positive number of seconds."""
    due_after = config["KRONCASES_DUE_AFTER"]
    if due_after is None:
        return
    valid = (
        isinstance(due_after, Mapping)
        and set(due_after) == {p.value for p in Priority}
        and all(_seconds(v) for v in due_after.values())
    )
    if not valid:
        raise ValueError(
            "KRONCASES_DUE_AFTER must be None or map each priority (" + ", ".join(p.value for p in Priority)
            + f") to a positive number of seconds (at most {MAX_DUE_AFTER:,}), not {due_after!r}"
        )


def due_at(config: Mapping[str, Any], case: Any) -> datetime | None:
    """The due time that follows from the case's priority, clock start and paused time."""
    due_after = config["KRONCASES_DUE_AFTER"]
    started = as_utc(case.clock_started_at)
    if due_after is None or started is None or Status(case.status) not in WORKING:
        return None
    return started + timedelta(seconds=float(due_after[case.priority]) + (case.paused_seconds or 0))


def start_clock(config: Mapping[str, Any], case: Any, now: datetime) -> None:
    """At creation and reopening: a fresh clock."""
    case.clock_started_at = now
    case.paused_seconds = 0
    case.pending_since = None
    case.due_at = due_at(config, case)


def on_status(config: Mapping[str, Any], case: Any, previous: Status, now: datetime) -> None:
    """Keep the clock in step with a status move (``case.status`` already holds the new one)."""
    status = Status(case.status)
    if status == Status.RESOLVED:
        case.due_at = None
        case.pending_since = None
        return
    if previous == Status.RESOLVED:
        start_clock(config, case, now)
        return
    if status == Status.PENDING and previous != Status.PENDING:
        case.pending_since = now
    elif previous == Status.PENDING and status != Status.PENDING:
        since = as_utc(case.pending_since)
        if since is not None:
            case.paused_seconds = (case.paused_seconds or 0) + max(0, int((now - since).total_seconds()))
        case.pending_since = None
        case.due_at = due_at(config, case)


def is_overdue(case: Any, now: datetime) -> bool:
    """Past its due time, and (if pending) already past it when it started waiting."""
    due = as_utc(case.due_at)
    if due is None or Status(case.status) not in WORKING:
        return False
    since = as_utc(case.pending_since)
    if case.status == Status.PENDING.value and since is not None:
        return due < since
    return due < now


def overdue_clause(Case: Any, now: datetime | Any) -> Any:
    """:func:`is_overdue` as a SQL condition on the case table; ``now`` a moment or a bound parameter."""
    return sa.and_(
        Case.status.in_([s.value for s in WORKING]),
        Case.due_at.is_not(None),
        Case.due_at < now,
        sa.or_(Case.status != Status.PENDING.value, Case.pending_since.is_(None), Case.due_at < Case.pending_since),
    )
