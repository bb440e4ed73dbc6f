"""The demo helpdesk (examples/host_app) works end to end, on SQLite and PostgreSQL.

Everything goes through HTTP like a browser would: the real login form with its
CSRF token, the host's pages, and the extension's JSON API with the token from
the ``kroncases-csrf-token`` meta tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from examples.host_app import create_app
from examples.host_app.models import Conversation, Message, User, db


@pytest.fixture
def db_config(database: Any) -> dict[str, Any]:
    """Config for a fresh database: a SQLite file, or a PostgreSQL schema of its own."""
    return {"SQLALCHEMY_DATABASE_URI": database.url, "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options}


@pytest.fixture
def app(db_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "SECRET_KEY": "test", **db_config})
    yield app
    with app.app_context():
        db.engine.dispose()


def csrf_field(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def meta_token(html: str) -> str:
    match = re.search(r'<meta name="kroncases-csrf-token" content="([^"]+)">', html)
    assert match, "no kroncases-csrf-token meta tag in the page"
    return match.group(1)


def login(app: Flask, email: str, password: str = "demo") -> FlaskClient:
    """Sign in through the real form, as a browser does."""
    client = app.test_client()
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_field(page.get_data(as_text=True))}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location == "/"
    return client


def conversations_of(app: Flask, team: str) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(sa.select(Conversation.id, Conversation.subject).where(Conversation.team == team))
        return [(id_, subject) for id_, subject in rows]


def messages_of(app: Flask, conversation_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.id, Message.body).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
        return [(id_, body) for id_, body in rows]


def row_of(html: str, conversation_id: int) -> str:
    """The list row of one conversation."""
    match = re.search(rf'<li>\s*<a class="row[^"]*"\s+href="/conversations/{conversation_id}".*?</li>', html, re.S)
    assert match, f"conversation {conversation_id} is not in the list"
    return match.group(0)


def message_element(html: str, message_id: int) -> str:
    match = re.search(rf'<li class="msg[^"]*" id="message-{message_id}".*?</li>', html, re.S)
    assert match, f"message {message_id} is not in the thread"
    return match.group(0)


def test_seed_is_realistic_and_idempotent(app: Flask, db_config: dict[str, Any]) -> None:
    with app.app_context():
        conversations = db.session.scalars(sa.select(Conversation)).all()
        assert len(conversations) >= 10
        assert {c.team for c in conversations} == {"support", "billing"}
        assert all(3 <= len(c.messages) <= 12 for c in conversations)
        assert {u.email for u in db.session.scalars(sa.select(User))} == {
            "admin@example.com", "alex@example.com", "bea@example.com", "jonas@example.com",
        }
        jonas = db.session.scalar(sa.select(User).where(User.email == "jonas@example.com"))
        assert (jonas.locale, jonas.timezone) == ("de", "Europe/Berlin")
        counts = (len(conversations), db.session.scalar(sa.select(sa.func.count()).select_from(Message)))
        db.engine.dispose()

    again = create_app({"TESTING": True, **db_config})
    with again.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(Conversation)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Message)),
        ) == counts
        db.engine.dispose()


def test_agent_sees_only_own_team(app: Flask) -> None:
    html = login(app, "alex@example.com").get("/").get_data(as_text=True)
    for _, subject in conversations_of(app, "support"):
        assert str(escape(subject)) in html
    for _, subject in conversations_of(app, "billing"):
        assert str(escape(subject)) not in html

    admin_html = login(app, "admin@example.com").get("/").get_data(as_text=True)
    for _, subject in conversations_of(app, "support") + conversations_of(app, "billing"):
        assert str(escape(subject)) in admin_html


def test_agent_reads_a_conversation(app: Flask) -> None:
    conversation_id, subject = conversations_of(app, "billing")[0]
    response = login(app, "bea@example.com").get(f"/conversations/{conversation_id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert str(escape(subject)) in html
    for message_id, body in messages_of(app, conversation_id):
        element = message_element(html, message_id)
        assert f'data-message-id="{message_id}"' in element
        assert 'tabindex="0"' in element
        assert str(escape(body)) in element
    # The sidebar is toggled by a real button and holds the Support Cases panel.
    assert re.search(r'<button[^>]*data-sidebar-toggle[^>]*aria-controls="sidebar"[^>]*aria-expanded="false"', html)
    sidebar = html[html.index('<aside class="sidebar" id="sidebar"'):]
    assert "Support Cases" in sidebar.split("</aside>")[0]


def test_other_teams_conversation_is_404(app: Flask) -> None:
    billing_id, _ = conversations_of(app, "billing")[0]
    support_id, _ = conversations_of(app, "support")[0]
    alex = login(app, "alex@example.com")
    assert alex.get(f"/conversations/{billing_id}").status_code == 404
    assert alex.post(f"/conversations/{billing_id}/reply", data={"body": "hi"}).status_code in (400, 404)
    assert alex.get(f"/conversations/{support_id}").status_code == 200
    assert login(app, "admin@example.com").get(f"/conversations/{billing_id}").status_code == 200


def test_login_needs_csrf_token_and_right_password(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"email": "alex@example.com", "password": "demo"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # still signed out

    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"email": "alex@example.com", "password": "wrong", "csrf_token": csrf_field(page)}
    )
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_pages_include_kroncases_assets(app: Flask) -> None:
    client = login(app, "alex@example.com")
    html = client.get("/").get_data(as_text=True)
    meta_token(html)
    match = re.search(r'<link rel="stylesheet" href="(/kroncases/static/[^"]+\.css)">', html)
    assert match
    assert client.get(match.group(1)).status_code == 200


def test_agent_replies(app: Flask) -> None:
    conversation_id, _ = conversations_of(app, "support")[0]
    client = login(app, "alex@example.com")
    page = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    response = client.post(
        f"/conversations/{conversation_id}/reply",
        data={"body": "I've reset the lock <for you>.", "csrf_token": csrf_field(page)},
    )
    assert response.status_code == 302
    new_id = messages_of(app, conversation_id)[-1][0]
    assert response.location.endswith(f"#message-{new_id}")
    element = message_element(client.get(f"/conversations/{conversation_id}").get_data(as_text=True), new_id)
    assert "msg--agent" in element and "Alex Morgan" in element
    assert "I&#39;ve reset the lock &lt;for you&gt;." in element


def test_agent_creates_a_case_and_sees_badge_and_indicator(app: Flask) -> None:
    conversation_id, _ = conversations_of(app, "support")[0]
    (first_id, _), (second_id, _), (other_id, _), *_ = messages_of(app, conversation_id)
    client = login(app, "alex@example.com")

    assert "kc-badge--support-case" not in row_of(client.get("/").get_data(as_text=True), conversation_id)
    html = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert "This message is logged under Case #" not in html  # (the script's texts in the page hold "already logged under")

    response = client.post(
        f"/kroncases/api/conversations/{conversation_id}/cases",
        json={
            "title": "Account locked after failed logins",
            "case_type": "access",
            "priority": "high",
            "message_ids": [first_id, second_id],
        },
        headers={"X-CSRFToken": meta_token(html)},
    )
    assert response.status_code == 201, response.get_json()
    case_id = response.get_json()["case"]["id"]

    row = row_of(client.get("/").get_data(as_text=True), conversation_id)
    assert re.search(r'class="kc-badge kc-badge--support-case">support-case<', row)

    html = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    indicator = f"This message is logged under Case #{case_id}."
    assert indicator in message_element(html, first_id)
    assert indicator in message_element(html, second_id)
    assert indicator not in message_element(html, other_id)
    assert f"Case #{case_id}" in html.split('<aside class="sidebar"')[1]  # in the panel
    assert f"Case #{case_id} created by Alex Morgan" in html  # in the activity


def test_case_api_follows_the_hosts_access_rule(app: Flask) -> None:
    support_id, _ = conversations_of(app, "support")[0]
    message_id = messages_of(app, support_id)[0][0]
    bea = login(app, "bea@example.com")
    token = meta_token(bea.get("/").get_data(as_text=True))
    body = {"title": "Not mine", "case_type": "general", "priority": "low", "message_ids": [message_id]}

    response = bea.post(f"/kroncases/api/conversations/{support_id}/cases", json=body, headers={"X-CSRFToken": token})
    missing = bea.post("/kroncases/api/conversations/987654/cases", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == missing.status_code == 404  # refused like a conversation that does not exist
    assert response.get_data() == missing.get_data()
    response = bea.post(f"/kroncases/api/conversations/{support_id}/cases", json=body)
    assert response.status_code == 400  # no CSRF header


# -- the demo's example cases (DEMO_CASES) -------------------------------------------------------


def test_seed_cases_cover_every_state_and_a_month_of_history(db_config: dict[str, Any]) -> None:
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from examples.host_app import cases

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DEMO_CASES": True, **db_config})
    with app.app_context():
        m = cases.models
        rows = db.session.scalars(sa.select(m.Case)).all()
        now = datetime.now(UTC)

        def utc(value: Any) -> Any:
            return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

        assert set(Counter(c.status for c in rows)) == {"open", "pending", "resolved"}
        reopened = db.session.scalars(sa.select(m.CaseActivity.case_id).where(
            m.CaseActivity.kind == "status_changed", m.CaseActivity.from_status == "resolved",
            m.CaseActivity.to_status == "open")).all()
        assert reopened and all(db.session.get(m.Case, i).status == "open" for i in reopened)
        owners = {c.assignee.name for c in rows if c.assignee is not None}
        assert {"Alex Morgan", "Bea Schulz"} <= owners
        assert any(c.notes for c in rows)
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        overdue = db.session.scalars(cases.overdue(by=admin)).all()
        assert len(overdue) >= 2  # overdue on the first start, without waiting for a clock
        resolved_days = {utc(c.resolved_at).date() for c in rows
                         if c.status == "resolved" and utc(c.resolved_at) > now - timedelta(days=29)}
        assert len(resolved_days) >= 10  # spread over the month the reports page shows
        for case in rows:  # the times moved back stay coherent
            assert utc(case.created_at) <= now and utc(case.updated_at) <= now
            assert case.resolved_at is None or utc(case.created_at) < utc(case.resolved_at) <= now
            first = min(utc(link.message.created_at) for link in case.message_links)
            assert first <= utc(case.created_at)
        # The conversations stay what the first seed test wants.
        conversations = db.session.scalars(sa.select(Conversation)).all()
        assert {c.team for c in conversations} == {"support", "billing"}
        assert all(3 <= len(c.messages) <= 12 for c in conversations)
        # Each agent's reports count their own team's cases only.
        alex = db.session.scalar(sa.select(User).where(User.email == "alex@example.com"))
        bea = db.session.scalar(sa.select(User).where(User.email == "bea@example.com"))
        totals = [cases.report(u).created_total for u in (alex, bea, admin)]
        assert totals[0] > 0 and totals[1] > 0 and totals[0] + totals[1] == totals[2] == len(rows)
        count = len(rows)
        db.engine.dispose()

    again = create_app({"TESTING": True, "DEMO_CASES": True, **db_config})
    with again.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(cases.models.Case)) == count
        db.engine.dispose()


def test_tests_get_no_seed_cases_unless_they_ask(app: Flask) -> None:
    from examples.host_app import cases

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(cases.models.Case)) == 0


def test_each_agent_picks_a_language_and_a_time_zone(app: Flask) -> None:
    alex = login(app, "alex@example.com")
    page = alex.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and 'action="/preferences"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    refused = alex.post("/preferences", data={"locale": "xx", "timezone": "Mars/Olympus", "csrf_token": token})
    assert refused.status_code == 302
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "alex@example.com"))
        assert (user.locale, user.timezone) == ("en", "UTC")
    assert alex.post("/preferences", data={"locale": "fr", "timezone": "Europe/Paris"}).status_code == 400  # no CSRF token
    saved = alex.post("/preferences", data={"locale": "fr", "timezone": "Europe/Paris", "csrf_token": token, "next": "/?status=open"})
    assert saved.status_code == 302 and saved.location == "/?status=open"
    page = alex.get("/").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert '<option selected value="fr">' in page or 'value="fr" selected' in page
    # Jonas works in German from the start.
    assert '<html lang="de">' in login(app, "jonas@example.com").get("/").get_data(as_text=True)
