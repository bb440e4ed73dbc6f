"""Lean case creation: few statements, a reply from memory, webhook endpoints kept in memory.

A case from two messages through the JSON API costs at most six statements
(the host's user loader, one query for the conversation with the selected
messages and the cases holding them, and one insert each for the case, its
message links, its activity entry and its label), none after the commit. The
enabled webhook endpoints are kept in memory: a change made through the
endpoint service in this process is seen by the very next case change; one made
by another process within ``endpoint_cache_seconds``, except that a disabled or
deleted endpoint never gets another outbox row.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from .conftest import Desk, table_counts
from .support.databases import statements

#: The host's user loader, the selection, then the inserts: case, links, activity, label.
MOST = 6


@pytest.fixture
def app_config(queue_name: str) -> dict[str, Any]:
    from .conftest import REDIS_URL

    return {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name,
            "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"]}


@pytest.fixture
def delivery(app: Any, cases: Any) -> Any:
    """The app's delivery service, with the endpoints kept for an hour: only a change here can refresh them."""
    with app.app_context():
        service = cases.state.delivery
    service.endpoint_cache_seconds = 3600
    return service




def body(messages: list[Any], **extra: Any) -> dict[str, Any]:
    # With a summary, as an agent who wrote one: without, a summary job is queued after the commit.
    return {"title": "Checkout fails", "case_type": "technical", "priority": "high",
            "summary": "Payment declined since this morning.", "message_ids": [str(k) for k in messages], **extra}


def deliveries(app: Any, cases: Any) -> list[tuple[int, str, Any]]:
    with app.app_context():
        Delivery = cases.models.WebhookDelivery
        with cases.state.db.engine.connect() as conn:
            rows = conn.execute(sa.select(Delivery.endpoint_id, Delivery.event_type, Delivery.case_id)
                                .order_by(Delivery.id))
            return [tuple(row) for row in rows]


def elsewhere(app: Any, cases: Any, statement: Any) -> None:
    """Run ``statement`` as another process would: on a connection and in a transaction of its own."""
    with app.app_context():
        cases.state.db.session.remove()  # SQLite: no read of ours in the way of that write
        with cases.state.db.engine.begin() as conn:
            conn.execute(statement)


def test_a_case_from_two_messages_takes_six_statements_and_none_after_the_commit(app, cases, desk: Desk, api_as,
                                                                                 delivery):
    api = api_as(desk.agent)
    first = api.post(f"/conversations/{desk.conversation}/cases", json=body(desk.messages[:2]))
    assert first.status_code == 201  # the first change also reads the (no) webhook endpoints
    with statements(app, cases) as seen:
        response = api.post(f"/conversations/{desk.other_conversation}/cases", json=body(desk.other_messages))
    assert response.status_code == 201, response.json
    assert len(seen) <= MOST, "\n".join(seen)
    reads = [s for s in seen if s.upper().startswith("SELECT")]
    assert len(reads) == 2, reads  # the user, and the conversation with the messages and their cases
    assert all(s.upper().startswith("SELECT") for s in seen[:2]), seen
    assert all(s.upper().startswith("INSERT") for s in seen[2:]), "nothing read back after writing"
    # Built from memory, the reply is what was stored: the same as a fresh read.
    case = response.json["case"]
    assert case["message_ids"] == desk.other_messages
    assert case["title"] == "Checkout fails" and case["priority"] == "high" and case["status"] == "open"
    assert api.get(f"/cases/{case['id']}").json["case"] == case
    counts = table_counts(app, cases)
    assert counts["kroncases_case_messages"] == 4 and counts["kroncases_conversation_labels"] == 2


def test_a_subscribed_endpoint_costs_one_outbox_insert(app, cases, desk: Desk, api_as, delivery):
    with app.app_context():
        endpoint, _secret = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook", events=["case.created"])
        endpoint_id = endpoint.id
    api = api_as(desk.agent)
    assert api.post(f"/conversations/{desk.conversation}/cases", json=body(desk.messages[:2])).status_code == 201
    with statements(app, cases) as seen:
        response = api.post(f"/conversations/{desk.other_conversation}/cases", json=body(desk.other_messages))
    assert response.status_code == 201
    assert len(seen) <= MOST + 1, "\n".join(seen)
    assert sum("webhook_deliveries" in s for s in seen) == 1
    assert not [s for s in seen if s.upper().startswith("SELECT") and "webhook_endpoints" in s], "endpoints read"
    assert [(e, c) for e, _type, c in deliveries(app, cases)][-1] == (endpoint_id, response.json["case"]["id"])


def test_an_endpoint_changed_in_this_process_is_seen_by_the_next_change(app, cases, desk: Desk, delivery, ctx):
    agent = desk.user(desk.agent)
    service = cases.state.endpoints
    first = cases.create_case(desk.conversation, desk.messages[:1], title="Before any endpoint", by=agent)
    assert deliveries(app, cases) == []  # and "no endpoint" is now what the process keeps

    endpoint, _secret = service.create_endpoint("http://127.0.0.1:9/hook", events=["case.created", "case.resolved"])
    endpoint_id = endpoint.id
    second = cases.create_case(desk.conversation, desk.messages[1:2], title="After", by=agent)
    assert deliveries(app, cases) == [(endpoint_id, "case.created", second.id)]

    service.update_endpoint(endpoint, endpoint.url, ["case.created"], enabled=True)  # no longer case.resolved
    cases.resolve(first, by=agent)
    assert len(deliveries(app, cases)) == 1

    endpoint = service.endpoint(endpoint_id)
    service.update_endpoint(endpoint, endpoint.url, endpoint.events, enabled=False)
    cases.create_case(desk.conversation, desk.messages[2:3], title="Disabled", by=agent)
    assert len(deliveries(app, cases)) == 1

    endpoint = service.endpoint(endpoint_id)
    service.update_endpoint(endpoint, endpoint.url, endpoint.events, enabled=True)
    third = cases.create_case(desk.other_conversation, desk.other_messages[:1], title="Enabled again", by=agent)
    assert deliveries(app, cases)[-1] == (endpoint_id, "case.created", third.id)

    service.delete_endpoint(service.endpoint(endpoint_id))
    last = cases.create_case(desk.other_conversation, desk.other_messages[1:], title="Deleted", by=agent)
    assert [row for row in deliveries(app, cases) if row[2] == last.id] == []


def test_an_endpoint_disabled_or_deleted_elsewhere_gets_no_row_and_stops_nothing(app, cases, desk: Desk, delivery):
    """Another process's change is not seen for ``endpoint_cache_seconds``, yet no row goes to a dead endpoint."""
    with app.app_context():
        endpoint, _secret = cases.state.endpoints.create_endpoint("http://127.0.0.1:9/hook", events=["case.created"])
        Endpoint, Delivery = cases.models.WebhookEndpoint, cases.models.WebhookDelivery
        endpoint_id = endpoint.id
        agent = desk.user(desk.agent)
        kept = cases.create_case(desk.conversation, desk.messages[:1], title="Kept", by=agent)
        assert deliveries(app, cases) == [(endpoint_id, "case.created", kept.id)]
    elsewhere(app, cases, sa.update(Endpoint).where(Endpoint.id == endpoint_id).values(enabled=False))
    with app.app_context():
        assert cases.state.delivery.subscribed("case.created") == [endpoint_id]  # still what this process keeps
        cases.create_case(desk.conversation, desk.messages[1:2], title="Disabled elsewhere", by=desk.user(desk.agent))
    assert len(deliveries(app, cases)) == 1
    elsewhere(app, cases, sa.update(Endpoint).where(Endpoint.id == endpoint_id).values(enabled=True))
    elsewhere(app, cases, sa.delete(Delivery))
    elsewhere(app, cases, sa.delete(Endpoint).where(Endpoint.id == endpoint_id))
    with app.app_context():
        # Would break the foreign key on PostgreSQL if the outbox trusted the kept endpoint.
        case = cases.create_case(desk.conversation, desk.messages[2:3], title="Deleted elsewhere",
                                 by=desk.user(desk.agent))
        assert case.id is not None
    assert deliveries(app, cases) == []


def test_an_endpoint_made_elsewhere_is_seen_once_the_kept_list_is_renewed(app, cases, desk: Desk, delivery):
    """The documented delay: within ``endpoint_cache_seconds`` another process's new endpoint is not seen."""
    with app.app_context():
        agent = desk.user(desk.agent)
        cases.create_case(desk.conversation, desk.messages[:1], title="Keeps no endpoint", by=agent)
        Endpoint = cases.models.WebhookEndpoint
    elsewhere(app, cases, sa.insert(Endpoint).values(url="http://127.0.0.1:9/elsewhere", events=["case.created"],
                                                     enabled=True, description="", secret="whsec_x"))
    with app.app_context():
        cases.create_case(desk.conversation, desk.messages[1:2], title="Not seen yet", by=desk.user(desk.agent))
    assert deliveries(app, cases) == []
    delivery.endpoint_cache_seconds = 0  # read for every event from now on
    with app.app_context():
        seen = cases.create_case(desk.conversation, desk.messages[2:3], title="Seen", by=desk.user(desk.agent))
        assert [(t, c) for _e, t, c in deliveries(app, cases)] == [("case.created", seen.id)]


def test_a_message_taken_between_the_check_and_the_insert_is_refused_cleanly(app, cases, desk: Desk, api_as):
    """The unique index decides a race the selection query cannot see: a 409, and nothing of ours is left."""
    api = api_as(desk.agent)
    with app.app_context():
        engine = cases.state.db.engine
        Case, Link = cases.models.Case, cases.models.CaseMessage
    taken: list[Any] = []

    def competitor(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if taken or not statement.lstrip().upper().startswith("INSERT INTO KRONCASES_CASES"):
            return
        taken.append(None)  # its own insert passes through here too
        with engine.begin() as other:  # another agent's case with the same message, committed first
            case_id = other.execute(sa.insert(Case.__table__).values(
                conversation_id=desk.conversation, title="Theirs", case_type="general", priority="medium",
                status="open", escalation_level=0, version=1).returning(Case.__table__.c.id)).scalar_one()
            other.execute(sa.insert(Link.__table__).values(case_id=case_id, message_id=desk.messages[1]))
        taken[0] = case_id

    before = table_counts(app, cases)
    sa.event.listen(engine, "before_cursor_execute", competitor)
    try:
        response = api.post(f"/conversations/{desk.conversation}/cases", json=body(desk.messages[:2]))
    finally:
        sa.event.remove(engine, "before_cursor_execute", competitor)
    assert taken, "the competitor did not run"
    assert response.status_code == 409, response.json
    assert response.json["error"] == "conflict"
    assert response.json["errors"]["messages"] == ["A selected message was just added to another case."]
    after = table_counts(app, cases)
    assert after["kroncases_cases"] == before["kroncases_cases"] + 1  # theirs only
    assert after["kroncases_case_messages"] == before["kroncases_case_messages"] + 1
    assert after["kroncases_activity"] == before["kroncases_activity"]
    assert after["kroncases_conversation_labels"] == before["kroncases_conversation_labels"]
    # And the next try is told which case holds the message.
    again = api.post(f"/conversations/{desk.conversation}/cases", json=body(desk.messages[:2]))
    assert again.status_code == 409
    assert again.json["errors"]["messages"] == [f"Message {desk.messages[1]} is already logged under Case #{taken[0]}."]
