"""The opening text kept on the ticket row is selectable, summarized, indicated and linked like a message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask_login import FlaskLoginClient

from .conftest import ApiClient, Database
from .hosts import ticket_host

OPENING = ("Since the update to v2.3 the export button does nothing and the console shows "
           "TypeError: undefined is not a function (ERR_EXPORT_17).")


def build(database: Database, **options: Any) -> Iterator[tuple[Flask, Any, ApiClient, dict[str, int]]]:
    app, cases = ticket_host.make_app(database.url, database.engine_options, **options)
    app.test_client_class = FlaskLoginClient
    db = ticket_host.db
    with app.app_context():
        db.create_all()
        agent = ticket_host.Agent(name="Toni")
        ticket = ticket_host.Ticket(subject="Export broken", body=OPENING, requester="Cy")
        db.session.add_all([agent, ticket])
        db.session.flush()
        replies = [ticket_host.Reply(ticket_id=ticket.id, text="Which browser do you use?", from_staff=True),
                   ticket_host.Reply(ticket_id=ticket.id, text="Firefox 128 on Windows.")]
        db.session.add_all(replies)
        db.session.commit()
        keys = {"ticket": ticket.id, "question": replies[0].id, "answer": replies[1].id}
        client = app.test_client(user=agent)
    yield app, cases, ApiClient(client), keys
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ticket_desk(database: Database, app_config: dict[str, Any]) -> Iterator[tuple[Flask, Any, ApiClient, dict[str, int]]]:
    yield from build(database, **app_config)


def test_the_opening_text_is_a_message_of_the_case(ticket_desk):
    app, cases, api, keys = ticket_desk
    created = api.post(f"/conversations/{keys['ticket']}/cases",
                       json={"title": "Export broken", "message_ids": ["opening", str(keys["answer"])]})
    assert created.status_code == 201, created.json
    case = created.json["case"]
    assert case["message_ids"] == ["opening", keys["answer"]]

    again = api.post(f"/conversations/{keys['ticket']}/cases", json={"title": "Again", "message_ids": ["opening"]})
    assert again.status_code == 409
    assert again.json["errors"]["messages"] == [f"The opening message is already logged under Case #{case['id']}."]

    with app.app_context():
        source = cases.state.summaries.summarize_case(case["id"])
        summary = cases.get_case(case["id"]).summary
    assert source == "offline" and "ERR_EXPORT_17" in summary

    fragments = api.client.get(f"/kroncases/conversations/{keys['ticket']}/fragments").json
    assert fragments["messages"]["opening"]["case_id"] == case["id"]
    assert f"Case #{case['id']}" in fragments["messages"]["opening"]["indicator"]
    with app.test_request_context():
        ticket = ticket_host.db.session.get(ticket_host.Ticket, keys["ticket"])
        html = render_template_string("<div {{ kroncases.opening_attrs(t) }}>{{ kroncases.opening_indicator(t) }}</div>",
                                      t=ticket)
        link = app.jinja_env.globals["kroncases"].case_link(cases.get_case(case["id"]))
    assert f'data-kc-message="opening" data-kc-case="{case["id"]}"' in html
    assert f"This message is logged under Case #{case['id']}." in html
    assert link == f"/tickets/{keys['ticket']}#kc-message-opening"


def test_a_suggestion_reads_the_opening_text(ticket_desk):
    app, cases, api, keys = ticket_desk
    with app.test_request_context():
        ticket = ticket_host.db.session.get(ticket_host.Ticket, keys["ticket"])
        agent = ticket_host.db.session.get(ticket_host.Agent, 1)
        row = cases.state.summaries.request_suggestion(ticket, ["opening"], by=agent)
        assert row.message_ids == ["opening"]
        done = cases.state.summaries.run_suggestion(row.id)
        assert done.status == "done" and "ERR_EXPORT_17" in (done.title + done.summary)


def test_without_the_hook_opening_is_no_message_id(database, app_config):
    for _, _, api, keys in build(database, with_opening=False, **app_config):
        refused = api.post(f"/conversations/{keys['ticket']}/cases", json={"title": "t", "message_ids": ["opening"]})
        assert refused.status_code == 400
        assert refused.json["errors"]["messages"] == ["'opening' is not a message id."]
