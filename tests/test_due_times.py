"""Due times: KRONCASES_DUE_AFTER per priority, moved by a priority change, paused while pending.

The clock is moved by writing the case's clock rows (``clock_started_at``,
``pending_since``) to a time in the past, never by waiting or by replacing our
own clock: each status move then runs at the real time, as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases.config import DEFAULT_DUE_AFTER
from flask_kroncases.models import as_utc, utcnow

from .conftest import REDIS_URL
from .hosts import classic, make_app
from .test_service import create

HOUR = 3600
DAY = 24 * HOUR
UNSET = object()


@pytest.fixture
def due_after() -> Any:
    """KRONCASES_DUE_AFTER for the app; a test parametrizes it to change it."""
    return UNSET


@pytest.fixture
def app_config(queue_name: str, due_after: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name}
    if due_after is not UNSET:
        config["KRONCASES_DUE_AFTER"] = due_after
    return config


def set_rows(cases: Any, case_id: int, **values: Any) -> None:
    """Write the case's clock columns as if time had passed (a plain UPDATE, committed)."""
    Case = cases.models.Case
    session = cases.state.db.session
    session.execute(sa.update(Case).where(Case.id == case_id).values(**values)
                    .execution_options(synchronize_session=False))
    session.commit()
    session.expire_all()


def clock(cases: Any, case_id: int) -> dict[str, Any]:
    """The case's clock as committed, times as aware UTC."""
    table = cases.models.Case.__table__
    with cases.state.db.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == case_id)).mappings().one()
    return {
        "status": row["status"], "paused_seconds": row["paused_seconds"],
        **{name: as_utc(row[name]) for name in ("due_at", "clock_started_at", "pending_since", "created_at",
                                                  "updated_at")},
    }


def test_the_defaults_are_the_specs():
    assert DEFAULT_DUE_AFTER == {"urgent": 4 * HOUR, "high": DAY, "medium": 3 * DAY, "low": 7 * DAY}


def test_a_new_case_is_due_after_its_prioritys_time(app, cases, desk, ctx):
    made = {
        priority: create(cases, desk, message_keys=[key], priority=priority).id
        for priority, key in zip(("urgent", "high", "medium", "low"), desk.messages, strict=True)
    }
    for priority, case_id in made.items():
        row = clock(cases, case_id)
        assert row["clock_started_at"] == row["created_at"], priority
        assert row["due_at"] == row["created_at"] + timedelta(seconds=DEFAULT_DUE_AFTER[priority]), priority
        assert row["paused_seconds"] == 0 and row["pending_since"] is None


@pytest.mark.parametrize("due_after", [{"urgent": 60, "high": 90.5, "medium": 120, "low": 3 * DAY}])
def test_the_host_sets_its_own_times(app, cases, desk, ctx):
    case = create(cases, desk, priority="high")
    row = clock(cases, case.id)
    assert row["due_at"] == row["created_at"] + timedelta(seconds=90.5)


@pytest.mark.parametrize("due_after", [None])
def test_none_turns_due_times_off(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk, priority="urgent")
    assert clock(cases, case.id)["due_at"] is None
    cases.update(case, by=agent, priority="low")
    cases.set_status(case, "pending", by=agent)
    cases.set_status(case, "open", by=agent)
    cases.resolve(case, by=agent)
    cases.reopen(case, by=agent)
    assert clock(cases, case.id)["due_at"] is None
    assert cases.state.db.session.scalars(cases.overdue(by=desk.user(desk.admin))).all() == []


def test_a_priority_change_moves_the_due_time(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk, priority="medium")
    started = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    set_rows(cases, case.id, clock_started_at=started, paused_seconds=600,
             due_at=started + timedelta(seconds=3 * DAY + 600))
    with_case = cases.update(case.id, by=agent, priority="urgent")
    assert as_utc(with_case.due_at) == started + timedelta(hours=4, seconds=600)
    assert clock(cases, case.id)["due_at"] == started + timedelta(hours=4, seconds=600)
    cases.update(case.id, by=agent, priority="low")
    assert clock(cases, case.id)["due_at"] == started + timedelta(days=7, seconds=600)
    cases.update(case.id, by=agent, title="Only the title")   # no priority change: the due time stays
    assert clock(cases, case.id)["due_at"] == started + timedelta(days=7, seconds=600)


def test_resolving_clears_the_due_time_and_reopening_starts_a_fresh_clock(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk, priority="urgent")
    long_ago = utcnow() - timedelta(days=30)
    set_rows(cases, case.id, clock_started_at=long_ago, paused_seconds=5000, due_at=long_ago + timedelta(hours=5))
    cases.set_status(case.id, "pending", by=agent)
    cases.resolve(case.id, by=agent)
    row = clock(cases, case.id)
    assert (row["status"], row["due_at"], row["pending_since"]) == ("resolved", None, None)
    cases.reopen(case.id, by=agent)
    row = clock(cases, case.id)
    assert row["clock_started_at"] == row["updated_at"] > long_ago + timedelta(days=29)
    assert row["paused_seconds"] == 0 and row["pending_since"] is None
    assert row["due_at"] == row["clock_started_at"] + timedelta(hours=4)


def test_time_spent_pending_does_not_count(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk, priority="medium")
    started = utcnow() - timedelta(hours=5)
    due = started + timedelta(days=3)
    set_rows(cases, case.id, clock_started_at=started, due_at=due)

    cases.set_status(case.id, "pending", by=agent)
    row = clock(cases, case.id)
    assert row["pending_since"] == row["updated_at"] and row["due_at"] == due   # pausing keeps the due time
    set_rows(cases, case.id, pending_since=row["pending_since"] - timedelta(hours=2))   # two hours pass ...
    cases.set_status(case.id, "open", by=agent)
    row = clock(cases, case.id)
    paused = row["paused_seconds"]
    assert 2 * HOUR <= paused < 3 * HOUR and row["pending_since"] is None
    assert row["due_at"] == started + timedelta(days=3, seconds=paused)

    cases.set_status(case.id, "pending", by=agent)   # a second wait adds up
    set_rows(cases, case.id, pending_since=clock(cases, case.id)["pending_since"] - timedelta(hours=1))
    cases.set_status(case.id, "open", by=agent)
    row = clock(cases, case.id)
    assert paused + HOUR <= row["paused_seconds"] < paused + 2 * HOUR
    assert row["due_at"] == started + timedelta(days=3, seconds=row["paused_seconds"])
    cases.update(case.id, by=agent, priority="urgent")   # the paused time counts for the new priority too
    assert clock(cases, case.id)["due_at"] == started + timedelta(hours=4, seconds=row["paused_seconds"])


BAD_DUE_AFTER = {
    "a priority missing": {"urgent": HOUR, "high": DAY, "medium": 3 * DAY},
    "an unknown priority": {**DEFAULT_DUE_AFTER, "critical": HOUR},
    "zero": {**DEFAULT_DUE_AFTER, "urgent": 0},
    "negative": {**DEFAULT_DUE_AFTER, "low": -1},
    "text": {**DEFAULT_DUE_AFTER, "high": "1 day"},
    "a timedelta": {**DEFAULT_DUE_AFTER, "high": timedelta(days=1)},
    "a bool": {**DEFAULT_DUE_AFTER, "medium": True},
    "None for one": {**DEFAULT_DUE_AFTER, "low": None},
    "infinity": {**DEFAULT_DUE_AFTER, "low": float("inf")},
    "not a number": {**DEFAULT_DUE_AFTER, "low": float("nan")},
    "past any date": {**DEFAULT_DUE_AFTER, "low": 10**15},
    "a list": [HOUR, DAY, 3 * DAY, 7 * DAY],
    "seconds for all": 3600,
}


@pytest.mark.parametrize("name", sorted(BAD_DUE_AFTER))
def test_init_app_refuses_a_due_after_that_makes_no_sense(name):
    with pytest.raises(ValueError, match=r"^KRONCASES_DUE_AFTER must be None or map each priority"):
        make_app(classic, "sqlite://", KRONCASES_DUE_AFTER=BAD_DUE_AFTER[name])
