"""The case page, ``/kroncases/cases/<id>``: every part of a case, and every action as a plain form.

Runs on both host schemas (integer and UUID keys) and both databases through the
``tests/hosts`` apps (no ``CSRFProtect``: the pages blueprint checks the token
itself); the ticket host adds an opening text and a ``message_url`` hook.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import FlaskLoginClient

from flask_kroncases import KronCases
from flask_kroncases.enums import NOTE_MAX_LENGTH, TITLE_MAX_LENGTH
from flask_kroncases.models import utcnow

from .conftest import Database, Desk
from .hosts import ticket_host

PAGE = "/kroncases/cases/{}"


def client_for(app: Flask, desk: Desk, user_key: Any) -> tuple[FlaskClient, str]:
    with app.app_context():
        client = app.test_client(user=desk.user(user_key))
    return client, client.get("/csrf").get_data(as_text=True)


def make_case(app: Flask, cases: KronCases, desk: Desk, **fields: Any) -> int:
    with app.app_context():
        options = {"title": "Login fails after reset", "case_type": "access", "priority": "high",
                   "summary": "Customer cannot log in after a password reset."} | fields
        case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:2]),
                                 by=desk.user(desk.agent), **options)
        return int(case.id)


def read_case(app: Flask, cases: KronCases, case_id: int) -> dict[str, Any]:
    with app.app_context():
        case = cases.get_case(case_id)
        return {"assignee_id": case.assignee_id, "title": case.title, "case_type": case.case_type,
                "priority": case.priority, "status": case.status, "escalation_level": case.escalation_level,
                "escalation_reason": case.escalation_reason, "notes": [n.body for n in case.notes]}


def post(client: FlaskClient, case_id: Any, action: str, token: str | None, **data: Any) -> Any:
    if token is not None:
        data["csrf_token"] = token
    return client.post(f"{PAGE.format(case_id)}/{action}", data=data)


def without_token(response: Any) -> str:
    """The body with its CSRF token masked: a signed token carries the second it was made in."""
    return re.sub(r'(name="kroncases-csrf-token" content=")[^"]*"', r'\1"', response.get_data(as_text=True))


def text_of(html: str) -> str:
    """The page's text, tags dropped and whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# -- the page ---------------------------------------------------------------------------------


def test_the_page_shows_every_part_of_the_case(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    with app.app_context():
        agent, admin = desk.user(desk.agent), desk.user(desk.admin)
        cases.assign(case_id, admin, by=agent)
        cases.escalate(case_id, by=agent, reason="Customer is on the Enterprise plan.")
        cases.add_note(case_id, "Called the customer.\nNo answer.", by=agent)
        cases.add_note(case_id, "Second try worked.", by=admin)
    client, _ = client_for(app, desk, desk.agent)
    response = client.get(PAGE.format(case_id))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(html)

    assert f"<title>Case #{case_id}: Login fails after reset · Support cases</title>" in html
    assert f"Case #{case_id}: Login fails after reset" in text
    for fact in ("Status Open", "Type Access", "Priority High", "Owner Ada Admin"):
        assert fact in text, fact
    assert "Escalated, level 1" in text and "Customer is on the Enterprise plan." in text
    assert "Customer cannot log in after a password reset." in text and "Written by an agent." in text
    assert "Overdue" not in text and re.search(r'data-kc-due><time class="kc-time" datetime="', html)

    # The messages, quoted, each linked to its place in the conversation.
    assert "Messages 2" in text
    for index, key in enumerate(desk.messages[:2]):
        with app.app_context():
            body = desk.msgs([key])[0]
            body = getattr(body, "body", None) or body.text
        assert body in unescape(html)
        assert f'href="/conversations/{desk.conversation}#kc-message-{key}"' in html
        assert f"(message {index + 1})" in text
    assert unescape(html).count("I tried three times") == 1 and "Now it says my account is locked" not in unescape(html)

    # Notes, oldest first, with their authors; the activity of this case only.
    assert "Notes 2" in text
    assert re.search(r"Called the customer\.\s+No answer\. Alex Agent · (?:just now|\d+ minutes? ago) Second try worked\. Ada Admin", text)
    activity = html[html.index('class="kc-case-page__activity"'):]
    assert f"Case #{case_id} created by Alex Agent" in activity
    assert f"Case #{case_id} escalated by Alex Agent (level 1)" in text_of(activity)
    assert activity.count("data-kc-activity=") == 5  # created, assigned, escalated, two notes

    # One form per action, each with the CSRF token; the status buttons are the service's moves.
    for route in ("assign", "update", "status", "escalate", "summary", "notes"):
        assert f'action="/kroncases/cases/{case_id}/{route}"' in html, route
    assert html.count('name="csrf_token"') == html.count("<form ")
    assert re.findall(r'name="status" value="(\w+)"', html) == ["pending", "resolve"]
    # Owners to choose from: who may see the conversation (not the billing agent), the owner chosen.
    options = re.findall(r'<option value="([^"]+)" (selected)?>([^<]+)</option>', html[html.index('id="kc-case-assignee"'):])
    assert [(name, bool(selected)) for _, selected, name in options] == [("Ada Admin", True), ("Alex Agent", False)]
    assert 'value="me"' in html  # Assign to me: the agent does not own it
    assert ">Unassign</button>" in html
    # Labelled fields, the current values in the edit form.
    for field_id, label in (("kc-case-title", "Title"), ("kc-case-type", "Case type"), ("kc-case-priority", "Priority"),
                            ("kc-case-reason", "Reason for escalating"), ("kc-case-note", "New note"),
                            ("kc-case-assignee", "Assign to")):
        assert f'<label class="kc-label" for="{field_id}">{label}</label>' in html, field_id
        assert f'id="{field_id}"' in html
    assert 'value="Login fails after reset"' in html
    assert re.search(r'<option selected value="high">High</option>', html)
    # Headings in order, one h1.
    levels = [int(level) for level in re.findall(r"<h([1-6])\b", html)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels


def test_an_overdue_case_says_so_in_words(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    client, _ = client_for(app, desk, desk.agent)
    html = client.get(PAGE.format(case_id)).get_data(as_text=True)
    assert "Overdue" not in html and "Unassigned" in text_of(html)
    with app.app_context():
        case = cases.get_case(case_id)
        case.due_at = utcnow() - timedelta(hours=2)
        cases.state.db.session.commit()
    text = text_of(client.get(PAGE.format(case_id)).get_data(as_text=True))
    assert '<span class="kc-pill kc-pill--overdue">Overdue</span>' in client.get(PAGE.format(case_id)).get_data(as_text=True)
    assert "Due Overdue · was due" in text
    with app.app_context():
        cases.resolve(case_id, by=desk.user(desk.agent))
    text = text_of(client.get(PAGE.format(case_id)).get_data(as_text=True))
    assert "Overdue" not in text and "Due Resolved" in text


def test_text_of_the_case_is_escaped(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk, title="<script>alert(1)</script>", summary="<b>bold</b> & co")
    with app.app_context():
        cases.add_note(case_id, '<img src=x onerror="alert(2)">', by=desk.user(desk.agent))
        cases.escalate(case_id, by=desk.user(desk.agent), reason="<i>why</i>")
    client, token = client_for(app, desk, desk.agent)
    html = client.get(PAGE.format(case_id)).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert "<i>why</i>" not in html and "&lt;i&gt;why&lt;/i&gt;" in html
    # What a refused form sends back is escaped too.
    refused = post(client, case_id, "update", token, title='"><script>x</script>' + "y" * 100, case_type="access",
                   priority="high").get_data(as_text=True)
    assert "<script>x</script>" not in refused and "&#34;&gt;&lt;script&gt;x&lt;/script&gt;" in refused


# -- the actions ---------------------------------------------------------------------------------


def follow(client: FlaskClient, response: Any, case_id: int) -> str:
    """A successful action: a 303 back to the page, whose flash says what happened."""
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"].endswith(PAGE.format(case_id))
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    flashes = re.findall(r'<div class="kc-flash kc-flash--success" role="status">([^<]*)</div>', page.get_data(as_text=True))
    assert len(flashes) == 1
    return unescape(flashes[0])


def test_every_action_works_and_comes_back_to_the_page(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    client, token = client_for(app, desk, desk.agent)

    assert follow(client, post(client, case_id, "assign", token, assignee="me"), case_id) == \
        f"Case #{case_id} is assigned to Alex Agent."
    assert read_case(app, cases, case_id)["assignee_id"] == desk.agent
    page = client.get(PAGE.format(case_id)).get_data(as_text=True)
    assert 'value="me"' not in page and "Owner Alex Agent" in text_of(page)  # no "Assign to me" for the owner

    assert follow(client, post(client, case_id, "assign", token, assignee=str(desk.admin)), case_id) == \
        f"Case #{case_id} is assigned to Ada Admin."
    assert read_case(app, cases, case_id)["assignee_id"] == desk.admin
    assert follow(client, post(client, case_id, "assign", token, assignee=""), case_id) == \
        f"Case #{case_id} has no owner now."
    assert read_case(app, cases, case_id)["assignee_id"] is None

    assert follow(client, post(client, case_id, "update", token, title="  Locked out  after reset ",
                               case_type="technical", priority="urgent"), case_id) == f"Case #{case_id} was updated."
    assert {k: read_case(app, cases, case_id)[k] for k in ("title", "case_type", "priority")} == \
        {"title": "Locked out after reset", "case_type": "technical", "priority": "urgent"}

    for move, status, said in (("pending", "pending", "marked pending"), ("open", "open", "marked open"),
                               ("resolve", "resolved", "resolved"), ("reopen", "open", "reopened")):
        assert follow(client, post(client, case_id, "status", token, status=move), case_id) == f"Case #{case_id} was {said}."
        assert read_case(app, cases, case_id)["status"] == status

    assert follow(client, post(client, case_id, "escalate", token, reason="40 orders blocked."), case_id) == \
        f"Case #{case_id} was escalated (level 1)."
    assert read_case(app, cases, case_id)["escalation_reason"] == "40 orders blocked."

    assert follow(client, post(client, case_id, "notes", token, note="Line one\r\nLine <two>"), case_id) == \
        f"Your note was added to Case #{case_id}."
    assert read_case(app, cases, case_id)["notes"] == ["Line one\nLine <two>"]
    page = client.get(PAGE.format(case_id)).get_data(as_text=True)
    assert "Line one\nLine &lt;two&gt;" in page

    said = follow(client, post(client, case_id, "summary", token), case_id)
    assert said.startswith(f"A new summary of Case #{case_id} is being written")

    # Every change is in the page's activity, in order.
    activity = text_of(page[page.index('class="kc-case-page__activity"'):])
    assert activity.index("created by Alex Agent") < activity.index("marked pending") < activity.index("reopened")


def test_refusals_show_the_reason_at_the_field_and_keep_what_was_typed(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    client, token = client_for(app, desk, desk.agent)
    before = read_case(app, cases, case_id)

    def refused(response: Any, status: int, field_id: str | None, message: str) -> str:
        html = response.get_data(as_text=True)
        assert response.status_code == status, html[:2000]
        assert "<title>Error: " in html and "Nothing was changed." in html
        if field_id is not None:
            assert f'<p class="kc-field-error" id="{field_id}-error">{message}</p>' in html
            tag = re.search(rf'<(?:input|textarea|select)[^>]*id="{field_id}"[^>]*>', html)
            assert tag is not None and 'aria-invalid="true"' in tag.group(0) and "autofocus" in tag.group(0)
            assert f"{field_id}-error" in tag.group(0)
        else:
            assert message in text_of(html)
        return html

    html = refused(post(client, case_id, "notes", token, note="   \r\n "), 400, "kc-case-note", "Write the note first.")
    assert 'aria-describedby="kc-case-note-error kc-case-note-help"' in html
    long_note = "n" * (NOTE_MAX_LENGTH + 1)
    html = refused(post(client, case_id, "notes", token, note=long_note), 400, "kc-case-note",
                   f"Keep the note to {NOTE_MAX_LENGTH} characters or fewer (it has {NOTE_MAX_LENGTH + 1}).")
    assert f"\n{long_note}</textarea>" in html  # kept

    # Someone who may not see the conversation cannot own the case; nor can someone who does not exist.
    refused(post(client, case_id, "assign", token, assignee=str(desk.outsider)), 400, "kc-case-assignee",
            f"Olga Outsider may not see this conversation, so cannot own Case #{case_id}.")
    refused(post(client, case_id, "assign", token, assignee="424242"), 400, "kc-case-assignee", "There is no such agent.")
    refused(post(client, case_id, "assign", token), 400, "kc-case-assignee", "Choose an agent.")
    refused(post(client, case_id, "assign", token, assignee=""), 409, "kc-case-assignee",
            f"Case #{case_id} has no owner already.")

    too_long = "x" * (TITLE_MAX_LENGTH + 1)
    html = refused(post(client, case_id, "update", token, title=too_long, case_type="access", priority="high"), 400,
                   "kc-case-title", f"Shorten the title to {TITLE_MAX_LENGTH} characters; it has {len(too_long)}.")
    assert f'value="{too_long}"' in html
    refused(post(client, case_id, "update", token, title="Fine", case_type="urgent", priority="high"), 400,
            "kc-case-type", "Choose one of General, Technical, Billing, Access.")
    refused(post(client, case_id, "update", token, title="Login fails after reset", case_type="access", priority="high"),
            409, None, f"Case #{case_id} already has these values.")

    refused(post(client, case_id, "status", token, status="open"), 409, None, f"Case #{case_id} is already open.")
    refused(post(client, case_id, "status", token, status="closed"), 400, None, "Choose one of Open, Pending, Resolved.")
    refused(post(client, case_id, "status", token, status="reopen"), 409, None,
            f"Only a resolved case can be reopened; Case #{case_id} is open.")

    html = refused(post(client, case_id, "escalate", token, reason=" "), 400, "kc-case-reason",
                   "Say why the case is escalated.")
    assert read_case(app, cases, case_id) == before

    # A resolved case offers no escalation; a stale form is refused on the page all the same.
    with app.app_context():
        cases.resolve(case_id, by=desk.user(desk.agent))
    html = refused(post(client, case_id, "escalate", token, reason="Still broken"), 409, None,
                   f"A resolved case cannot be escalated; reopen Case #{case_id} first.")
    assert 'id="kc-case-reason"' not in html
    assert re.findall(r'name="status" value="(\w+)"', html) == ["reopen"]


def test_actions_need_the_csrf_token(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    client, _ = client_for(app, desk, desk.agent)
    before = read_case(app, cases, case_id)
    for action, data in (("assign", {"assignee": "me"}), ("update", {"title": "New", "case_type": "access",
                                                                      "priority": "low"}),
                         ("status", {"status": "resolve"}), ("escalate", {"reason": "Why"}), ("summary", {}),
                         ("notes", {"note": "Hello"})):
        for token in (None, "forged-token"):
            response = post(client, case_id, action, token, **data)
            assert response.status_code == 400, action
            assert "security token" in response.get_data(as_text=True)
    assert read_case(app, cases, case_id) == before


def test_signed_out_visitors_are_sent_to_sign_in(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    anonymous = app.test_client()
    assert anonymous.get(PAGE.format(case_id)).status_code in (302, 401)
    for action in ("assign", "update", "status", "escalate", "summary", "notes"):
        assert anonymous.post(f"{PAGE.format(case_id)}/{action}", data={"note": "x"}).status_code == 401


def test_a_case_the_agent_may_not_see_is_a_404_like_a_missing_one(app: Flask, cases: KronCases, desk: Desk) -> None:
    case_id = make_case(app, cases, desk)
    client, token = client_for(app, desk, desk.outsider)
    before = read_case(app, cases, case_id)

    def same_as_missing(request: Any) -> None:
        seen, gone = request(case_id), request(987654)
        assert seen.status_code == gone.status_code == 404
        assert without_token(seen) == without_token(gone)

    same_as_missing(lambda k: client.get(PAGE.format(k)))
    for action, data in (("assign", {"assignee": "me"}), ("assign", {}), ("update", {"title": "", "case_type": "x"}),
                         ("update", {"title": "Mine", "case_type": "access", "priority": "low"}),
                         ("status", {"status": "resolve"}), ("status", {"status": "nonsense"}),
                         ("escalate", {"reason": "Why"}), ("escalate", {"reason": ""}), ("summary", {}),
                         ("notes", {"note": "Hello"}), ("notes", {"note": ""})):
        same_as_missing(lambda k: post(client, k, action, token, **data))  # noqa: B023
    assert client.get(PAGE.format("not-a-number")).status_code == 404
    assert read_case(app, cases, case_id) == before
    text = text_of(client.get(PAGE.format(case_id)).get_data(as_text=True))
    assert "Login fails after reset" not in text and "This case does not exist." in text


# -- owners to choose from ----------------------------------------------------------------------


def test_assignable_users_are_those_who_may_see_the_conversation_and_stay_bounded(
    app: Flask, cases: KronCases, desk: Desk
) -> None:
    case_id = make_case(app, cases, desk)
    host = desk.host
    with app.app_context():
        host.db.session.add_all([host.make_user(f"Support {n}", "support") for n in range(5)]
                                + [host.make_user(f"Billing {n}", "billing") for n in range(3)])
        host.db.session.commit()
        service = cases.state.service

        def names(**options: Any) -> list[str]:
            return [service.hooks.display_name(u) for u in service.assignable_users(case_id, **options)]

        assert names() == ["Ada Admin", "Alex Agent", "Support 0", "Support 1", "Support 2", "Support 3", "Support 4"]
        assert len(names(limit=3)) == 3
        assert len(names(limit=3, scan=3)) <= 3
        assert len(names(limit=100, scan=4)) < 7
        with pytest.raises(Exception, match="This case does not exist."):
            service.assignable_users(case_id, by=desk.user(desk.outsider))


# -- a host with an opening text and its own message links --------------------------------------


@pytest.fixture
def ticket_app(database: Database, app_config: dict[str, Any]) -> Iterator[tuple[Flask, KronCases, FlaskClient, dict[str, int]]]:
    app, cases = ticket_host.make_app(database.url, database.engine_options, **app_config)
    app.test_client_class = FlaskLoginClient
    db = ticket_host.db
    with app.app_context():
        db.create_all()
        agent = ticket_host.Agent(name="Toni")
        ticket = ticket_host.Ticket(subject="Export broken", body="The export button does nothing.", requester="Cy")
        db.session.add_all([agent, ticket])
        db.session.flush()
        reply = ticket_host.Reply(ticket_id=ticket.id, text="Firefox 128 on Windows.")
        db.session.add(reply)
        db.session.commit()
        case = cases.create_case(ticket, ["opening", reply], title="Export broken", by=agent)
        keys = {"ticket": ticket.id, "reply": reply.id, "case": case.id}
        client = app.test_client(user=agent)
    yield app, cases, client, keys
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_opening_text_is_quoted_and_links_use_the_hosts_message_url(ticket_app: Any) -> None:
    app, cases, client, keys = ticket_app
    html = client.get(PAGE.format(keys["case"])).get_data(as_text=True)
    text = text_of(html)
    assert "Opening message" in text and "The export button does nothing." in text
    assert f'href="/tickets/{keys["ticket"]}#kc-message-opening"' in html
    assert "Customer" in text and "Firefox 128 on Windows." in text
    assert f'href="/tickets/{keys["ticket"]}?page=1#kc-message-{keys["reply"]}"' in html
    assert text.index("The export button does nothing.") < text.index("Firefox 128 on Windows.")
