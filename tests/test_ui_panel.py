"""The agent UI's server side: case form, fragments, cases page, thread, badges, access.

Runs on both host schemas (integer and UUID keys) and both databases through
the ``tests/hosts`` apps, which have no ``CSRFProtect``: the case form checks its
own CSRF token. The demo helpdesk is used where its pages matter (badges).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_login import login_user

from flask_kroncases import KronCases
from flask_kroncases.models import utcnow

from .conftest import Desk, table_counts

FORM = "/kroncases/conversations/{}/case-form"
JSON = {"Accept": "application/json"}


def without_csrf(page: str) -> str:
    return re.sub(r'(name="(?:kroncases-)?csrf[-_]token"[^>]*(?:value|content)=")[^"]*"', r'\1"', page)


def case_count(app: Flask, cases: KronCases) -> int:
    with app.app_context():
        name = cases.models.Case.__tablename__
    return table_counts(app, cases)[name]


def client_for(app: Flask, desk: Desk, user_key: Any) -> tuple[FlaskClient, str]:
    with app.app_context():
        client = app.test_client(user=desk.user(user_key))
    return client, client.get("/csrf").get_data(as_text=True)


def form_data(desk: Desk, token: str | None, **overrides: Any) -> dict[str, Any]:
    data = {
        "title": "  Login fails   after reset ",
        "case_type": "access",
        "priority": "high",
        "summary": "Customer cannot log in.",
        "message_ids": ",".join(str(k) for k in desk.messages[:2]),
    }
    if token is not None:
        data["csrf_token"] = token
    data.update(overrides)
    return data


def test_case_form_creates_a_case_and_returns_fragments(app: Flask, cases: KronCases, desk: Desk) -> None:
    client, token = client_for(app, desk, desk.agent)
    response = client.post(FORM.format(desk.conversation), data=form_data(desk, token), headers=JSON)
    assert response.status_code == 201, response.json
    case = response.json["case"]
    assert case["title"] == "Login fails after reset"
    assert (case["case_type"], case["priority"], case["status"]) == ("access", "high", "open")
    assert [str(k) for k in case["message_ids"]] == [str(k) for k in desk.messages[:2]]

    fragments = response.json["fragments"]
    assert f'id="kc-case-{case["id"]}"' in fragments["panel"] and "Login fails after reset" in fragments["panel"]
    assert set(fragments["messages"]) == {str(k) for k in desk.messages[:2]}
    indicator = fragments["messages"][str(desk.messages[0])]["indicator"]
    assert f"This message is logged under Case #{case['id']}." in indicator
    assert f'href="#kc-case-{case["id"]}"' in indicator
    assert [a["html"] for a in fragments["activity"]][0].count(f"Case #{case['id']} created by Alex Agent") == 1
    assert "kc-badge--support-case" in fragments["badges"]


def test_case_form_enforces_the_title_limit_and_keeps_what_was_typed(app: Flask, cases: KronCases, desk: Desk) -> None:
    client, token = client_for(app, desk, desk.agent)
    long_title = "x" * 81
    response = client.post(FORM.format(desk.conversation), data=form_data(desk, token, title=long_title), headers=JSON)
    assert response.status_code == 400
    assert response.json["errors"]["title"] == ["Shorten the title to 80 characters; it has 81."]
    response = client.post(FORM.format(desk.conversation), data=form_data(desk, token, title="   "), headers=JSON)
    assert response.status_code == 400 and response.json["errors"]["title"] == ["Enter a title."]
    response = client.post(FORM.format(desk.conversation), data=form_data(desk, token, case_type="urgent"), headers=JSON)
    assert response.status_code == 400 and "case_type" in response.json["errors"]
    response = client.post(FORM.format(desk.conversation), data=form_data(desk, token, message_ids=""), headers=JSON)
    assert response.status_code == 400 and response.json["errors"]["messages"] == ["Select at least one message."]
    assert case_count(app, cases) == 0

    # Without the script: the page shows the error next to the field, with the typed values.
    response = client.post(FORM.format(desk.conversation), data=form_data(desk, token, title=long_title, summary="Mine <b>"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html and "Shorten the title to 80 characters; it has 81." in html
    assert f'value="{long_title}"' in html and "Mine &lt;b&gt;" in html


def test_case_form_service_errors_land_on_their_fields(app: Flask, cases: KronCases, desk: Desk) -> None:
    client, token = client_for(app, desk, desk.agent)
    foreign = form_data(desk, token, message_ids=str(desk.other_messages[0]))
    response = client.post(FORM.format(desk.conversation), data=foreign, headers=JSON)
    assert response.status_code == 400
    assert response.json["errors"]["messages"] == [f"Message {desk.other_messages[0]} is not in this conversation."]


def test_double_submit_creates_one_case(app: Flask, cases: KronCases, desk: Desk) -> None:
    client, token = client_for(app, desk, desk.agent)
    first = client.post(FORM.format(desk.conversation), data=form_data(desk, token), headers=JSON)
    second = client.post(FORM.format(desk.conversation), data=form_data(desk, token), headers=JSON)
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json["error"] == "conflict"
    assert f"already logged under Case #{first.json['case']['id']}" in second.json["errors"]["messages"][0]
    assert case_count(app, cases) == 1


def test_case_form_without_csrf_token_is_refused(app: Flask, cases: KronCases, desk: Desk) -> None:
    client, _ = client_for(app, desk, desk.agent)
    for token in (None, "forged-token"):
        response = client.post(FORM.format(desk.conversation), data=form_data(desk, token), headers=JSON)
        assert response.status_code == 400
        assert response.json["error"] == "csrf"
        html = client.post(FORM.format(desk.conversation), data=form_data(desk, token))
        assert html.status_code == 400 and "security token" in html.get_data(as_text=True)
    assert case_count(app, cases) == 0


def test_agent_who_may_not_see_the_conversation_is_refused_everywhere(
    app: Flask, cases: KronCases, desk: Desk
) -> None:
    with app.app_context():
        case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="Hidden",
                                 by=desk.user(desk.agent))
        case_id = case.id
    outsider, token = client_for(app, desk, desk.outsider)
    conv = desk.conversation
    missing = "987654" if isinstance(conv, int) else "00000000-0000-4000-8000-000000000000"

    def same_as_missing(request: Any) -> None:
        """Refused exactly like something that does not exist: same status, same body."""
        seen, gone = request(conv, case_id), request(missing, 99999)
        assert seen.status_code == gone.status_code == 404
        # A page's CSRF token is signed with the second it was made in: not part of the comparison.
        assert without_csrf(seen.get_data(as_text=True)) == without_csrf(gone.get_data(as_text=True))

    same_as_missing(lambda c, _: outsider.post(FORM.format(c), data=form_data(desk, token), headers=JSON))
    same_as_missing(lambda c, _: outsider.post(FORM.format(c), data=form_data(desk, token)))
    same_as_missing(lambda c, _: outsider.post(FORM.format(c), data=form_data(desk, token, title="")))
    same_as_missing(lambda c, _: outsider.get(f"/kroncases/conversations/{c}/fragments"))
    api = "/kroncases/api"
    same_as_missing(lambda c, _: outsider.get(f"{api}/conversations/{c}/cases"))
    same_as_missing(lambda _, k: outsider.get(f"{api}/cases/{k}"))
    for path, body in (("status", {"status": "pending"}), ("resolve", {}), ("reopen", {}), ("escalate", {"reason": "x"}),
                       ("summary", {})):
        same_as_missing(lambda _, k: outsider.post(f"{api}/cases/{k}/{path}", json=body,  # noqa: B023
                                                   headers={"X-CSRFToken": token}))
    same_as_missing(lambda c, _: outsider.post(f"{api}/conversations/{c}/suggestions",
                                               json={"message_ids": [str(desk.messages[0])]},
                                               headers={"X-CSRFToken": token}))
    page = outsider.get("/kroncases/cases").get_data(as_text=True)
    assert "Hidden" not in page and f"#{case_id}" not in page
    # Unknown conversations are 404; signed-out visitors get 401 (JSON) or the login redirect.
    assert outsider.get("/kroncases/conversations/999999/fragments").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/kroncases/conversations/{conv}/fragments").status_code == 401
    assert anonymous.post(FORM.format(conv), data={}).status_code == 401
    assert anonymous.get("/kroncases/cases").status_code in (302, 401)
    assert case_count(app, cases) == 1


def _make_cases(app: Flask, cases: KronCases, desk: Desk) -> None:
    """Five cases in the agent's conversations and one in billing's."""
    host = desk.host
    with app.app_context():
        agent, outsider = desk.user(desk.agent), desk.user(desk.outsider)
        conv, other, hidden = desk.conv(desk.conversation), desk.conv(desk.other_conversation), desk.conv(desk.hidden_conversation)
        extra = [host.make_message(conv, f"Extra message {i}") for i in range(3)]
        host.db.session.add_all(extra)
        host.db.session.commit()
        specs = [
            (conv, [desk.messages[0]], "Password reset loop", "access", "high"),
            (conv, [desk.messages[1]], "Cookies do not help", "technical", "low"),
            (conv, [host.key(extra[0])], "Account locked", "access", "urgent"),
            (other, [desk.other_messages[0]], "Wrong VAT number on invoice", "billing", "medium"),
            (conv, [host.key(extra[1])], "Reset email 100% missing", "general", "medium"),
        ]
        made = [cases.create_case(c, desk.msgs(m), title=t, case_type=ty, priority=p, by=agent) for c, m, t, ty, p in specs]
        cases.resolve(made[1], by=agent)
        cases.create_case(hidden, desk.msgs(desk.hidden_messages[:1]), title="Refund for order 5531", by=outsider)


def _titles(html: str) -> list[str]:
    return re.findall(r'<tr data-case-id="\d+">.*?<a href="[^"]*">([^<]+)</a>', html, re.S)


def test_cases_page_filters_searches_and_paginates(app: Flask, cases: KronCases, desk: Desk) -> None:
    _make_cases(app, cases, desk)
    client, _ = client_for(app, desk, desk.agent)
    html = client.get("/kroncases/cases").get_data(as_text=True)
    assert len(_titles(html)) == 5 and "Refund for order 5531" not in html
    assert "5 cases" in html
    # Each links to its case page, and back to its conversation at its first message.
    row = re.search(r'<tr data-case-id="(\d+)">((?:(?!</tr>).)*Password reset loop.*?)</tr>', html, re.S)
    assert row and f'<a href="/kroncases/cases/{row[1]}">Password reset loop</a>' in row[2]
    assert f'href="/conversations/{desk.conversation}#kc-message-{desk.messages[0]}">' in row[2]

    def titles(query: str) -> set[str]:
        return set(_titles(client.get("/kroncases/cases?" + query).get_data(as_text=True)))

    assert titles("status=resolved") == {"Cookies do not help"}
    assert titles("type=access") == {"Password reset loop", "Account locked"}
    assert titles("priority=urgent") == {"Account locked"}
    assert titles("q=reset") == {"Password reset loop", "Reset email 100% missing"}
    assert titles("q=100%25") == {"Reset email 100% missing"}  # % is literal, not a wildcard
    assert titles("q=VAT+invoice") == {"Wrong VAT number on invoice"}
    assert titles("type=access&priority=high") == {"Password reset loop"}
    assert titles("q=refund") == set()

    app.config["KRONCASES_PER_PAGE"] = 2
    pages = [_titles(client.get(f"/kroncases/cases?page={n}").get_data(as_text=True)) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({t for p in pages for t in p}) == 5
    assert "Page 2 of 3" in client.get("/kroncases/cases?page=2").get_data(as_text=True)

    admin, _ = client_for(app, desk, desk.admin)
    assert "Refund for order 5531" in admin.get("/kroncases/cases").get_data(as_text=True)


def test_cases_page_uses_the_visible_conversations_hook(app: Flask, cases: KronCases, desk: Desk) -> None:
    _make_cases(app, cases, desk)
    Conversation = desk.host.Conversation
    cases.visible_conversations(lambda user: sa.or_(sa.true() if user.is_admin else sa.false(),
                                                    Conversation.team == user.team))
    try:
        app.config["KRONCASES_PER_PAGE"] = 4
        client, _ = client_for(app, desk, desk.agent)
        first = client.get("/kroncases/cases").get_data(as_text=True)
        second = client.get("/kroncases/cases?page=2").get_data(as_text=True)
        assert len(_titles(first)) == 4 and len(_titles(second)) == 1
        assert "5 cases" in first and "Refund for order 5531" not in first + second
        outsider, _ = client_for(app, desk, desk.outsider)
        assert _titles(outsider.get("/kroncases/cases").get_data(as_text=True)) == ["Refund for order 5531"]
    finally:
        cases.hooks.visible_conversations = None


def test_thread_merges_activity_among_messages_in_time_order(app: Flask, cases: KronCases, desk: Desk) -> None:
    host = desk.host
    time_attr = "created_at" if hasattr(host.Message, "created_at") else "posted_at"
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    with app.test_request_context():
        messages = desk.msgs(desk.messages)
        for n, message in enumerate(messages):
            setattr(message, time_attr, start + timedelta(minutes=10 * n))
        host.db.session.commit()
        case = cases.create_case(desk.conv(desk.conversation), messages[:2], title="Locked", by=desk.user(desk.agent))
        activity = cases.models.CaseActivity
        host.db.session.execute(sa.update(activity).values(created_at=start + timedelta(minutes=15)))
        host.db.session.commit()
        cases.escalate(case, by=desk.user(desk.agent), reason="VIP")  # now: after every message
        html = render_template_string(
            "{% for item in kroncases.thread(conv, messages, time_attr=attr) %}"
            "{% if item.is_message %}[m{{ loop.index }}]{% else %}{{ item.activity }}{% endif %}{% endfor %}",
            conv=desk.conv(desk.conversation), messages=messages, attr=time_attr,
        )
        case_id = case.id
    order = re.findall(r"\[m\d\]|created by|escalated by", html)
    assert order == ["[m1]", "[m2]", "created by", "[m4]", "[m5]", "escalated by"]
    assert f"Case #{case_id} created by Alex Agent · General · Medium" in html


def test_message_attrs_and_indicator_mark_messages_in_cases(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.test_request_context():
        messages = desk.msgs(desk.messages)
        case = cases.create_case(desk.conv(desk.conversation), messages[:1], title="Locked", by=desk.user(desk.agent))
        html = render_template_string(
            "{% for m in messages %}<li {{ kroncases.message_attrs(m) }}>{{ kroncases.message_indicator(m) }}</li>{% endfor %}",
            messages=messages,
        )
        case_id = case.id
    items = re.findall(r"<li (.*?)>(.*?)</li>", html, re.S)
    assert items[0][0] == f'data-kc-message="{desk.messages[0]}" data-kc-case="{case_id}"'
    assert f"This message is logged under Case #{case_id}." in items[0][1]
    assert items[1][0] == f'data-kc-message="{desk.messages[1]}"'
    assert "logged under" not in items[1][1] and "data-kc-indicator-slot" in items[1][1]


PAGE = (
    "{% for item in kroncases.thread(conv, messages) %}"
    "{% if item.is_message %}<li {{ kroncases.message_attrs(item.message) }}>"
    "{{ kroncases.message_indicator(item.message) }}</li>"
    "{% else %}{{ item.activity }}{% endif %}{% endfor %}"
    "{{ kroncases.panel(conv) }}"
)


def test_conversation_page_costs_a_fixed_number_of_queries(app: Flask, cases: KronCases, desk: Desk) -> None:
    """Thread, indicators and panel: the cases with their note counts, their messages, the activity.

    Three queries for one case or many; one more for the latest notes when
    there are notes, one more for the people named when the session does not
    hold them all already (here the signed-in agent names everything).
    """

    def page() -> tuple[list[str], str]:
        with app.test_request_context():
            login_user(desk.user(desk.agent))
            conv, messages = desk.conv(desk.conversation), desk.msgs(desk.messages)
            statements: list[str] = []
            listener = lambda *args: statements.append(args[2])  # noqa: E731
            engine = cases.state.db.engine
            sa.event.listen(engine, "before_cursor_execute", listener)
            try:
                html = render_template_string(PAGE, conv=conv, messages=messages)
            finally:
                sa.event.remove(engine, "before_cursor_execute", listener)
            desk.host.db.session.remove()
        return statements, html

    with app.app_context():
        agent = desk.user(desk.agent)
        cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="One", by=agent)
    one, html = page()
    assert len(one) == 3, one
    assert html.count("data-kc-case=") == 1
    with app.app_context():
        agent = desk.user(desk.agent)
        for n, key in enumerate(desk.messages[1:]):
            made = cases.create_case(desk.conv(desk.conversation), desk.msgs([key]), title=f"More {n}", by=agent)
            cases.escalate(made, by=agent, reason="VIP")
    many, html = page()
    assert len(many) == 3, many
    assert html.count("data-kc-case=") == 4 and html.count("escalated by Alex Agent") == 3
    with app.app_context():
        admin = desk.user(desk.admin)
        made = cases.for_conversation(desk.conv(desk.conversation))[0]
        cases.assign(made, admin, by=admin)
        cases.add_note(made, "Called the customer.", by=admin)
    named, html = page()
    assert len(named) == 5, named  # + the latest notes, + Ada Admin
    assert "Owner: Ada Admin" in html and "Called the customer." in html


def test_conversation_page_parts_render(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.test_request_context():
        conv = desk.conv(desk.conversation)
        html = render_template_string("{{ kroncases.assets() }}{{ kroncases.case_form(conv) }}{{ kroncases.panel(conv) }}", conv=conv)
    assert 'src="/kroncases/static/kroncases.js"' in html
    assert 'role="menu"' in html and 'aria-modal="true"' in html and 'aria-live="polite"' in html
    assert 'name="csrf_token"' in html and 'data-kc-max="80"' in html and "maxlength" not in html
    assert f'data-form-url="/kroncases/conversations/{desk.conversation}/case-form"' in html
    assert "Support Cases" in html


@pytest.fixture
def demo(tmp_path: Any) -> Any:
    from examples.host_app import create_app
    from examples.host_app.models import db

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.sqlite'}"})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_list_badges_cost_a_constant_number_of_queries(demo: Flask) -> None:
    from examples.host_app import cases
    from examples.host_app.models import Conversation, User, db

    from .test_demo import login

    def queries_for_inbox() -> tuple[int, str]:
        client = login(demo, "admin@example.com")
        statements: list[str] = []
        with demo.app_context():
            engine, prefix = db.engine, cases.models.table_prefix
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            html = client.get("/").get_data(as_text=True)
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        ours = [s for s in statements if prefix in s]
        assert len(ours) == 1, ours  # the badges of the whole page: one query, whatever the cases
        return len(statements), html

    before, _ = queries_for_inbox()
    with demo.app_context():
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        conversations = db.session.scalars(sa.select(Conversation)).all()
        for conversation in conversations:
            case = cases.create_case(conversation, conversation.messages[:1], title="Case", summary="S", by=admin)
            cases.resolve(case, by=admin)
    after, html = queries_for_inbox()
    assert after == before
    assert ">support-case<" not in html  # every case is resolved: the badge says so, and only that
    assert html.count(">support-case-resolved<") == len(conversations)


def test_list_marks_overdue_conversations_at_the_same_number_of_queries(demo: Flask) -> None:
    """The overdue badge comes from the badges' one query: a page with overdue cases costs no more."""
    from examples.host_app import cases
    from examples.host_app.models import Conversation, User, db

    from .test_demo import login

    def inbox() -> tuple[int, str]:
        client = login(demo, "admin@example.com")
        statements: list[str] = []
        with demo.app_context():
            engine = db.engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            html = client.get("/").get_data(as_text=True)
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        return len(statements), html

    with demo.app_context():
        admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        conversations = db.session.scalars(sa.select(Conversation).order_by(Conversation.id)).all()
        made = [cases.create_case(c, c.messages[:1], title="Case", summary="S", by=admin) for c in conversations[:3]]
        made_ids = [case.id for case in made]
        late_conversation = conversations[0].id
    before, html = inbox()
    assert html.count(">support-case<") == 3 and ">overdue<" not in html
    with demo.app_context():
        Case = cases.models.Case
        db.session.execute(sa.update(Case).where(Case.id == made_ids[0]).values(due_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    after, html = inbox()
    assert after == before
    assert html.count(">overdue<") == 1
    row = re.search(rf'data-conversation-id="{late_conversation}".*?</a>', html, re.S)
    assert row and '<span class="kc-badge kc-badge--overdue">overdue</span>' in row.group(0)
