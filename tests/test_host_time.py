"""Host times that are naive: KRONCASES_HOST_TIMEZONE says what they mean.

A helpdesk on a server in Tokyo stores ``datetime.now()`` in its message rows.
The case activity is ours, in UTC. The thread must still put each activity
entry between the right messages. The tests run with ``TZ`` set.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string

from flask_kroncases import KronCases
from flask_kroncases.hooks import SummaryInput

from .conftest import Desk


@pytest.fixture
def tokyo() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def thread_order(app: Flask, cases: KronCases, desk: Desk) -> list[str]:
    """Messages at 18:00, 18:10 ... Tokyo time (naive), the case created at 09:15 UTC (18:15 in Tokyo)."""
    time_attr = "created_at" if hasattr(desk.host.Message, "created_at") else "posted_at"
    with app.test_request_context():
        messages = desk.msgs(desk.messages)
        cases.create_case(desk.conv(desk.conversation), messages[:2], title="Locked", by=desk.user(desk.agent))
        activity = cases.models.CaseActivity
        desk.host.db.session.execute(sa.update(activity).values(created_at=datetime(2024, 3, 1, 9, 15, tzinfo=UTC)))
        desk.host.db.session.commit()
        messages = desk.msgs(desk.messages)
        for n, message in enumerate(messages):  # as the host's rows hand them back: naive local times
            setattr(message, time_attr, datetime(2024, 3, 1, 18, 0) + timedelta(minutes=10 * n))
        html = render_template_string(
            "{% for item in kroncases.thread(conv, messages, time_attr=attr) %}"
            "{% if item.is_message %}[m{{ loop.index }}]{% else %}{{ item.activity }}{% endif %}{% endfor %}",
            conv=desk.conv(desk.conversation), messages=messages, attr=time_attr,
        )
    return re.findall(r"\[m\d\]|created by", html)


RIGHT = ["[m1]", "[m2]", "created by", "[m4]", "[m5]"]


@pytest.mark.parametrize("zone", ["local", "Asia/Tokyo"])
def test_naive_local_times_are_read_in_the_host_zone(app, cases, desk, tokyo, zone):
    app.config["KRONCASES_HOST_TIMEZONE"] = zone
    assert thread_order(app, cases, desk) == RIGHT


def test_without_the_setting_naive_times_are_utc(app, cases, desk, tokyo):
    # 18:00 read as UTC is after the case: what a Tokyo host saw before the setting existed.
    assert thread_order(app, cases, desk) == ["created by", "[m2]", "[m3]", "[m4]", "[m5]"]  # loop.index


def test_summaries_order_mixed_naive_and_aware_times(app, cases, desk, tokyo):
    app.config["KRONCASES_HOST_TIMEZONE"] = "local"
    first = SummaryInput("customer", "first", datetime(2024, 3, 1, 18, 0))  # 09:00 UTC
    second = SummaryInput("customer", "second", datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
    with app.app_context():
        ordered = cases.state.summaries.inputs([second, first])
    assert [i.text for i in ordered] == ["first", "second"]


def test_an_unknown_zone_is_refused_at_init(tmp_path):
    from .hosts import classic, make_app

    with pytest.raises(ValueError, match="KRONCASES_HOST_TIMEZONE"):
        make_app(classic, f"sqlite:///{tmp_path / 'z.sqlite'}", KRONCASES_HOST_TIMEZONE="Mars/Olympus")
