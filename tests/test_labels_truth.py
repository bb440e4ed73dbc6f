"""Labels tell the truth: the list shows a conversation's current state, the stored labels stay as the audit record.

After resolve → reopen the conversation has an open case again: its badge says
``support-case`` (no ``support-case-resolved``), while the stored
``support-case-resolved`` row is kept. The reopened case's API description and
its real webhook delivery carry ``resolved_at: null`` and the time of the last
resolution as ``last_resolved_at``. Both databases, both host schemas.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string

from flask_kroncases import KronCases

from .conftest import REDIS_URL, Desk
from .support.receiver import Receiver
from .test_service import create
from .test_webhooks import endpoint, verify


@pytest.fixture
def app_config(queue_name: str) -> dict[str, Any]:
    return {
        "KRONCASES_REDIS_URL": REDIS_URL,
        "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
        "KRONCASES_BASE_URL": "https://help.example.com",
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def list_badges(app: Flask, desk: Desk, keys: list[Any]) -> list[str]:
    """The badges of a list page as a host renders it: one preload, one badge call per row."""
    with app.test_request_context():
        page = [desk.conv(k) for k in keys]
        markup = render_template_string(
            "{{ kroncases.preload_labels(page) }}{% for c in page %}<row>{{ kroncases.badges(c) }}</row>{% endfor %}",
            page=page)
    return [" ".join(re.findall(r'class="kc-badge kc-badge--[\w-]+">([\w-]+)<', row))
            for row in re.findall(r"<row>(.*?)</row>", markup)]


def deliver_last(cases: KronCases, event: str) -> None:
    """Send the newest delivery of ``event`` for real, to the receiver."""
    Delivery = cases.models.WebhookDelivery
    session = cases.state.db.session
    delivery_id = session.scalars(
        sa.select(Delivery.id).where(Delivery.event_type == event).order_by(Delivery.id.desc()).limit(1)
    ).one()
    assert cases.state.delivery.deliver(delivery_id) == "delivered"


def test_a_reopened_case_shows_open_and_keeps_its_audit_label(app, cases, desk, api_as, receiver):
    # The API client's requests get app contexts of their own (no ``ctx`` here: a shared one keeps ``g``).
    with app.app_context():
        _, secret = endpoint(cases, receiver.url)
        case_id = create(cases, desk).id
    api = api_as(desk.agent)
    assert list_badges(app, desk, [desk.conversation, desk.other_conversation]) == ["support-case", ""]

    response = api.post(f"/cases/{case_id}/resolve")
    assert response.status_code == 200, response.json
    resolved = response.json["case"]
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None and resolved["last_resolved_at"] == resolved["resolved_at"]
    assert list_badges(app, desk, [desk.conversation]) == ["support-case-resolved"]
    with app.app_context():
        deliver_last(cases, "case.resolved")
    resolved_body = verify(receiver.hits[-1], secret)
    assert resolved_body["type"] == "case.resolved"
    assert resolved_body["data"]["case"]["resolved_at"] == resolved["resolved_at"]

    reopened = api.post(f"/cases/{case_id}/reopen").json["case"]
    assert reopened["status"] == "open"
    assert reopened["resolved_at"] is None and reopened["last_resolved_at"] == resolved["resolved_at"]
    assert api.get(f"/cases/{case_id}").json["case"]["resolved_at"] is None

    # The list and the fragments the script swaps in say: an open case, not a resolved one.
    assert list_badges(app, desk, [desk.conversation]) == ["support-case"]
    fragments = api.client.get(f"/kroncases/conversations/{desk.conversation}/fragments").json
    assert "kc-badge--support-case-resolved" not in fragments["badges"]
    assert ">support-case<" in fragments["badges"]

    with app.app_context():
        # The audit record: the resolved label row is still there, for that case.
        Label = cases.models.ConversationLabel
        rows = cases.state.db.session.execute(sa.select(Label.name, Label.case_id).order_by(Label.id)).all()
        assert [tuple(r) for r in rows] == [("support-case", case_id), ("support-case-resolved", case_id)]
        assert cases.service.labels_for([desk.conversation], audit=True)[desk.conversation] == [
            "support-case", "support-case-resolved"]
        # The reopened webhook body, as a receiver gets it: no stale resolved_at, the last resolution named.
        deliver_last(cases, "case.reopened")
    body = verify(receiver.hits[-1], secret)
    assert body["type"] == "case.reopened"
    assert body["data"]["case"]["status"] == "open"
    assert body["data"]["case"]["resolved_at"] is None
    assert body["data"]["case"]["last_resolved_at"] == resolved["resolved_at"]


def test_a_conversation_is_resolved_only_when_all_its_cases_are(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    first = create(cases, desk, desk.messages[:1], title="First")
    second = create(cases, desk, desk.messages[1:2], title="Second")
    cases.resolve(first, by=agent)
    assert cases.labels_for([desk.conversation])[desk.conversation] == ["support-case"]
    cases.set_status(second, "pending", by=agent)
    assert cases.labels_for([desk.conversation])[desk.conversation] == ["support-case"]
    cases.resolve(second, by=agent)
    assert cases.labels_for([desk.conversation])[desk.conversation] == ["support-case-resolved"]
    assert list_badges(app, desk, [desk.conversation]) == ["support-case-resolved"]
    cases.reopen(first, by=agent)
    assert list_badges(app, desk, [desk.conversation]) == ["support-case"]


def test_a_never_resolved_case_has_no_resolution_times(app, cases, desk, api_as):
    with app.app_context():
        case_id = create(cases, desk).id
    described = api_as(desk.agent).get(f"/cases/{case_id}").json["case"]
    assert described["resolved_at"] is None and described["last_resolved_at"] is None
