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


def test_a_paginated_thread_shows_each_activity_entry_on_one_page(app, cases, desk):
    """Two pages of two messages; entries before, between and after them land once each."""
    time_attr = "created_at" if hasattr(desk.host.Message, "created_at") else "posted_at"
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    with app.test_request_context():
        messages = desk.msgs(desk.messages)
        for n, message in enumerate(messages):
            setattr(message, time_attr, start + timedelta(minutes=10 * n))  # 09:00, 09:10, 09:20, 09:30
        desk.host.db.session.commit()
        agent = desk.user(desk.agent)
        case = cases.create_case(desk.conv(desk.conversation), messages[:1], title="Paged", by=agent)
        cases.escalate(case, by=agent, reason="VIP")
        cases.resolve(case, by=agent)
        activity = cases.models.CaseActivity
        rows = desk.host.db.session.scalars(sa.select(activity).order_by(activity.id)).all()
        for row, minute in zip(rows, (5, 15, 35), strict=True):  # after m1, between the pages, after m4
            row.created_at = start + timedelta(minutes=minute)
        desk.host.db.session.commit()
        messages = desk.msgs(desk.messages)
        template = ("{% for item in kroncases.thread(conv, msgs, time_attr=attr, page_start=s, page_end=e) %}"
                    "{% if item.is_message %}[m]{% else %}{{ item.entry.kind }}{% endif %};{% endfor %}")
        conv = desk.conv(desk.conversation)
        first = render_template_string(template, conv=conv, msgs=messages[:2], attr=time_attr, s=None,
                                       e=getattr(messages[2], time_attr))
        second = render_template_string(template, conv=conv, msgs=messages[2:4], attr=time_attr,
                                        s=getattr(messages[2], time_attr), e=None)
    assert first == "[m];created;[m];escalated;"
    assert second == "[m];[m];status_changed;"


def test_a_case_links_to_its_first_message_through_the_message_url_hook(app, cases, desk):
    cases.message_url(lambda message: f"/tickets/page-of/{desk.host.key(message)}#reply")
    with app.test_request_context():
        case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[1:3]), title="Link",
                                 by=desk.user(desk.agent))
        link = app.jinja_env.globals["kroncases"].case_link(case)
    assert link == f"/tickets/page-of/{desk.messages[1]}#reply"


def test_activity_times_are_shown_in_the_host_zone(app, cases, desk):
    """An entry at 09:15 UTC reads 18:15 beside messages a Tokyo host shows in its own time."""
    app.config["KRONCASES_HOST_TIMEZONE"] = "Asia/Tokyo"
    with app.test_request_context():
        cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="T",
                          by=desk.user(desk.agent))
        activity = cases.models.CaseActivity
        desk.host.db.session.execute(sa.update(activity).values(created_at=datetime(2024, 3, 1, 9, 15, tzinfo=UTC)))
        desk.host.db.session.commit()
        html = str(app.jinja_env.globals["kroncases"].activity(desk.conv(desk.conversation)))
    assert "Mar 01 2024, 18:15" in html and 'datetime="2024-03-01T18:15:00+09:00"' in html
