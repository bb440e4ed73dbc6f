"""The conversation page's side of working a case: panel, fragments, thread, list badges.

The panel shows each case's owner, due time, overdue mark, notes and a link to
the case page, and offers "Assign to me"; the fragments mark the open and
pending cases the script offers as "Add to Case #N"; the thread reads each new
activity kind as a sentence; the list's badges say "overdue" — all on SQLite
and PostgreSQL, for both host schemas, at a fixed number of queries.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string

from flask_kroncases import KronCases
from flask_kroncases.models import utcnow

from .conftest import Desk
from .test_ui_panel import client_for

API = "/kroncases/api"


def fragments(app: Flask, desk: Desk, user_key: Any) -> dict[str, Any]:
    client, _ = client_for(app, desk, user_key)
    response = client.get(f"/kroncases/conversations/{desk.conversation}/fragments", headers={"Accept": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def entry(panel: str, case_id: int) -> str:
    """One case's accordion entry out of the panel's markup."""
    found = re.search(rf'<details[^>]*id="kc-case-{case_id}".*?</details>', panel, re.S)
    assert found, f"no entry for Case #{case_id}"
    return found.group(0)


def text(markup: str, between: str = " ") -> str:
    """What a reader sees: tags dropped (``between`` in their place), entities decoded, white space collapsed."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", between, markup)).split())


def sentence(entry_html: str) -> str:
    """The words of an activity entry, without its icon and time."""
    found = re.search(r'<span class="kc-activity__text">(.*?)</span>\s*(<time|</)', entry_html, re.S)
    assert found, entry_html
    return text(found.group(1), between="")


def make_overdue(app: Flask, cases: KronCases, case_id: int, hours: int = 3) -> None:
    with app.app_context():
        case = cases.get_case(case_id)
        case.due_at = utcnow() - timedelta(hours=hours)
        cases.state.db.session.commit()


@contextmanager
def counting(app: Flask, cases: KronCases) -> Iterator[list[str]]:
    """Every SQL statement sent while the block runs."""
    with app.app_context():
        engine = cases.state.db.engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_panel_shows_owner_due_overdue_notes_and_the_case_page(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.app_context():
        agent, admin = desk.user(desk.agent), desk.user(desk.admin)
        conv = desk.conv(desk.conversation)
        mine = cases.create_case(conv, desk.msgs(desk.messages[:1]), title="Password reset loop", priority="high", by=agent)
        cases.assign(mine, agent, by=agent)
        cases.add_note(mine, "Asked for a screenshot.", by=admin)
        cases.add_note(mine, "Customer says <b>nothing</b> works; " + "and more " * 40, by=agent)
        late = cases.create_case(conv, desk.msgs(desk.messages[1:2]), title="Locked account", by=agent)
        done = cases.create_case(conv, desk.msgs(desk.messages[2:3]), title="Old question", by=agent)
        cases.resolve(done, by=agent)
        mine_id, late_id, done_id = mine.id, late.id, done.id
    make_overdue(app, cases, late_id)

    panel = fragments(app, desk, desk.agent)["panel"]
    first, second, third = entry(panel, mine_id), entry(panel, late_id), entry(panel, done_id)

    # The owner, by name, in the heading and the facts; "Assign to me" only where the agent is not it.
    assert "Owner: Alex Agent" in text(first) and 'data-kc-action="assign-me"' not in first
    assert "Unassigned" in text(second) and f'data-kc-action="assign-me" data-case-id="{late_id}"' in second
    # Due times; the overdue one says so in words and in style, the resolved one has none.
    assert re.search(r'<time class="kc-time" datetime="[^"]+"', first) and "Overdue" not in first
    assert '<span class="kc-pill kc-pill--overdue" data-kc-overdue>Overdue</span>' in second
    assert "kc-case--overdue" in second and "(overdue)" in text(second)
    assert "Due —" in text(third) and "Overdue" not in third
    # Notes: how many, and the latest one's author, time and an escaped excerpt.
    assert re.search(r"<dd[^>]*data-kc-note-count>2</dd>", first)
    assert re.search(r"<dd[^>]*data-kc-note-count>0</dd>", second) and "data-kc-latest-note" not in second
    latest = re.search(r"<p class=\"kc-case__note\" data-kc-latest-note>.*?</p>", first, re.S)
    assert latest
    assert "Alex Agent ·" in text(latest.group(0)) and "<time" in latest.group(0)
    assert "Customer says &lt;b&gt;nothing&lt;/b&gt; works;" in latest.group(0) and "Asked for a screenshot" not in first
    assert text(latest.group(0)).endswith("…") and len(text(latest.group(0))) < 200
    # Each links to its case page.
    for case_id, markup in ((mine_id, first), (late_id, second), (done_id, third)):
        assert f'<a class="kc-link" href="/kroncases/cases/{case_id}" data-kc-case-page>Open case page' in markup

    # Someone else sees the same owner, and may take the case.
    other = entry(fragments(app, desk, desk.admin)["panel"], mine_id)
    assert "Owner: Alex Agent" in text(other) and 'data-kc-action="assign-me"' in other


def test_assign_to_me_then_the_fragments_show_the_new_owner(app: Flask, cases: KronCases, desk: Desk, api_as: Any) -> None:
    with app.app_context():
        case_id = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="Locked",
                                    by=desk.user(desk.agent)).id
    assert 'data-kc-action="assign-me"' in entry(fragments(app, desk, desk.agent)["panel"], case_id)
    response = api_as(desk.agent).post(f"/cases/{case_id}/assign", json={"assignee": "me"})
    assert response.status_code == 200, response.json
    data = fragments(app, desk, desk.agent)
    assert "Owner: Alex Agent" in text(entry(data["panel"], case_id))
    assert 'data-kc-action="assign-me"' not in entry(data["panel"], case_id)
    assert sentence(data["activity"][-1]["html"]) == f"Case #{case_id} assigned to Alex Agent by Alex Agent"


def test_fragments_carry_the_cases_messages_can_be_added_to(app: Flask, cases: KronCases, desk: Desk,
                                                           api_as: Any) -> None:
    """Open and pending cases are marked as targets; the marks follow every status move."""
    with app.app_context():
        agent = desk.user(desk.agent)
        conv = desk.conv(desk.conversation)
        first = cases.create_case(conv, desk.msgs(desk.messages[:1]), title="Reset <loop>", by=agent).id
        second = cases.create_case(conv, desk.msgs(desk.messages[1:2]), title="Locked", by=agent).id

    def targets() -> dict[int, str]:
        panel = fragments(app, desk, desk.agent)["panel"]
        return {int(case_id): html_lib.unescape(title) for case_id, title in re.findall(
            r'<details[^>]*data-case-id="(\d+)"[^>]*data-kc-add-target data-case-title="([^"]*)"', panel)}

    assert targets() == {first: "Reset <loop>", second: "Locked"}
    api = api_as(desk.agent)
    assert api.post(f"/cases/{first}/resolve").status_code == 200
    assert targets() == {second: "Locked"}
    assert api.post(f"/cases/{second}/status", json={"status": "pending"}).status_code == 200
    assert targets() == {second: "Locked"}
    assert "(paused)" in text(entry(fragments(app, desk, desk.agent)["panel"], second))  # pending stops the clock
    assert api.post(f"/cases/{first}/reopen").status_code == 200
    assert targets() == {first: "Reset <loop>", second: "Locked"}


def test_adding_messages_updates_indicators_panel_and_thread(app: Flask, cases: KronCases, desk: Desk,
                                                            api_as: Any) -> None:
    with app.app_context():
        agent = desk.user(desk.agent)
        conv = desk.conv(desk.conversation)
        case_id = cases.create_case(conv, desk.msgs(desk.messages[:1]), title="Locked", by=agent).id
        other_id = cases.create_case(conv, desk.msgs(desk.messages[3:4]), title="Thanks", by=agent).id
    api = api_as(desk.agent)
    response = api.post(f"/cases/{case_id}/messages", json={"message_ids": [str(k) for k in desk.messages[1:3]]})
    assert response.status_code == 200, response.json
    data = fragments(app, desk, desk.agent)
    for key in desk.messages[:3]:
        assert data["messages"][str(key)]["case_id"] == case_id
    assert re.search(r"<dd[^>]*data-kc-message-count>3</dd>", entry(data["panel"], case_id))
    assert sentence(data["activity"][-1]["html"]) == f"2 messages added to Case #{case_id} by Alex Agent"

    # A message of another case is refused with words the script shows; nothing changes.
    refused = api.post(f"/cases/{case_id}/messages", json={"message_ids": [str(desk.messages[3])]})
    assert refused.status_code == 409
    assert f"already logged under Case #{other_id}" in refused.json["message"]
    assert fragments(app, desk, desk.agent)["messages"][str(desk.messages[3])]["case_id"] == other_id


def test_indicator_opens_the_case_in_the_panel_and_links_its_page(app: Flask, cases: KronCases, desk: Desk,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():
        case_id = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="Locked",
                                    by=desk.user(desk.agent)).id
    indicator = fragments(app, desk, desk.agent)["messages"][str(desk.messages[0])]["indicator"]
    assert f'href="#kc-case-{case_id}"' in indicator and f'data-kc-open-case="{case_id}"' in indicator
    page_link = re.search(r'<a class="kc-indicator__page"[^>]*>.*?</a>', indicator, re.S)
    assert page_link and f'href="/kroncases/cases/{case_id}"' in page_link.group(0)
    assert text(page_link.group(0)) == f"Open the page of Case #{case_id}"
    assert f'aria-describedby="kc-tip-{desk.messages[0]}"' in page_link.group(0)
    # Without the pages blueprint there is no page to link: the pill stays, the arrow goes.
    monkeypatch.delitem(app.blueprints, "kroncases_panel")
    with app.test_request_context():
        bare = render_template_string("{{ kroncases.indicator_for(case, 'x') }}", case=cases.get_case(case_id))
    assert f'href="#kc-case-{case_id}"' in bare and "kc-indicator__page" not in bare


def test_activity_entries_read_as_sentences(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.app_context():
        agent, admin = desk.user(desk.agent), desk.user(desk.admin)
        conv = desk.conv(desk.conversation)
        case = cases.create_case(conv, desk.msgs(desk.messages[:1]), title="Locked", case_type="access",
                                 priority="medium", by=agent)
        case_id = case.id
        cases.assign(case, admin, by=agent)
        cases.assign(case, None, by=admin)
        cases.update(case, by=agent, priority="urgent", case_type="technical")
        cases.update(case, by=agent, title="Locked out <again>")
        cases.update(case, by=agent, title="Locked out", priority="high")
        cases.add_messages(case, desk.msgs(desk.messages[1:3]), by=agent)
        cases.add_messages(case, desk.msgs(desk.messages[3:4]), by=admin)
        cases.add_note(case, "Secret: the customer's PIN is 4711.", by=agent)
    make_overdue(app, cases, case_id)
    with app.app_context():
        assert cases.service.sweep_overdue() == 1

    data = fragments(app, desk, desk.agent)
    sentences = [sentence(item["html"]) for item in data["activity"]]
    ref = f"Case #{case_id}"
    expected = [
        f"{ref} created by Alex Agent · Access · Medium",
        f"{ref} assigned to Ada Admin by Alex Agent",
        f"{ref} unassigned by Ada Admin",
        f"{ref} updated by Alex Agent: priority Medium → Urgent, type Access → Technical",
        f"{ref} updated by Alex Agent: title “Locked out <again>”",
        f"{ref} updated by Alex Agent: title “Locked out”, priority Urgent → High",
        f"2 messages added to {ref} by Alex Agent",
        f"1 message added to {ref} by Ada Admin",
        f"Note added to {ref} by Alex Agent",
        f"{ref} is overdue",
    ]
    # The title's quotes come from CSS (<q>).
    assert sentences == [s.replace("“", "").replace("”", "") for s in expected]
    assert all("4711" not in item["html"] for item in data["activity"])
    assert "&lt;again&gt;" in data["activity"][4]["html"]
    overdue = data["activity"][-1]["html"]
    assert "kc-activity--overdue" in overdue and "Someone" not in overdue and " by " not in sentence(overdue)


def test_panel_costs_the_same_queries_for_one_case_or_many(app: Flask, cases: KronCases, desk: Desk) -> None:
    """Owners, creators, notes and latest notes' authors are loaded for all cases at once."""
    host = desk.host
    with app.app_context():
        agent = desk.user(desk.agent)
        helpers = [host.make_user(f"Helper {i}", "support") for i in range(6)]
        host.db.session.add_all(helpers)
        host.db.session.commit()
        small = desk.conv(desk.other_conversation)
        one = cases.create_case(small, desk.msgs(desk.other_messages[:1]), title="Only", by=agent)
        cases.assign(one, agent, by=agent)
        cases.add_note(one, "One note.", by=agent)
        big = desk.conv(desk.conversation)
        extra = [host.make_message(big, f"More {i}") for i in range(2)]
        host.db.session.add_all(extra)
        host.db.session.commit()
        keys = desk.messages + [host.key(m) for m in extra]
        for i, key in enumerate(keys):
            creator = helpers[i]
            case = cases.create_case(big, desk.msgs([key]), title=f"Case {i}", by=creator)
            cases.assign(case, helpers[-1 - i], by=creator)
            cases.add_note(case, f"First note {i}", by=creator)
            cases.add_note(case, f"Second note {i}", by=helpers[-1 - i])
        small_key, big_key = host.key(small), host.key(big)
        host.db.session.remove()

    def panel_queries(conversation_key: Any) -> tuple[int, str]:
        with app.test_request_context():
            conversation = desk.conv(conversation_key)
            with counting(app, cases) as statements:
                markup = render_template_string("{{ kroncases.panel(c) }}", c=conversation)
            host.db.session.remove()
        return len(statements), markup

    few, small_panel = panel_queries(small_key)
    many, big_panel = panel_queries(big_key)
    assert big_panel.count("<details") == 6 and small_panel.count("<details") == 1
    assert "Second note 5" in text(big_panel) and "Owner: Helper 0" in text(big_panel)
    assert many == few, f"{many} queries for 6 cases, {few} for one"


def test_overdue_badge_for_a_page_of_conversations_in_one_query(app: Flask, cases: KronCases, desk: Desk,
                                                                host: Any) -> None:
    db = host.db
    with app.app_context():
        agent = desk.user(desk.agent)
        convs = [host.make_conversation(f"Question {i}", "support") for i in range(12)]
        db.session.add_all(convs)
        db.session.flush()
        msgs = [host.make_message(c, f"help {n}") for c in convs for n in range(2)]
        db.session.add_all(msgs)
        db.session.commit()
        keys = [host.key(c) for c in convs]
        made: dict[int, Any] = {}
        for i, conv in enumerate(convs[:8]):
            made[i] = cases.create_case(conv, [msgs[2 * i]], title=f"Case {i}", by=agent).id
        # 0: overdue; 1: overdue twice (two cases); 2: was overdue, then resolved; 3: pending after it was due;
        # 4: due, then pending before that (the clock stopped in time); 5..7: on time.
        second = cases.create_case(convs[1], [msgs[3]], title="Case 1b", by=agent).id
        cases.resolve(made[2], by=agent)
        cases.set_status(made[4], "pending", by=agent)
        Case = cases.models.Case
        past = utcnow() - timedelta(hours=5)
        db.session.execute(sa.update(Case).where(Case.id.in_([made[0], made[1], second, made[3]])).values(due_at=past))
        db.session.execute(sa.update(Case).where(Case.id == made[2]).values(due_at=past))  # ignored: resolved
        db.session.execute(sa.update(Case).where(Case.id == made[4]).values(due_at=past,
                                                                            pending_since=past - timedelta(hours=1)))
        db.session.commit()
        cases.set_status(made[3], "pending", by=agent)  # pending now, but it was overdue when it started waiting

    with app.app_context(), counting(app, cases) as statements:
        labels = cases.labels_for(keys)
    assert len(statements) == 1
    assert labels[keys[0]] == ["overdue", "support-case"]
    assert labels[keys[1]] == ["overdue", "support-case"]
    assert labels[keys[2]] == ["support-case-resolved"]  # the current state: all its cases are resolved
    assert labels[keys[3]] == ["overdue", "support-case"]
    assert [labels[k] for k in keys[4:8]] == [["support-case"]] * 4
    assert [labels[k] for k in keys[8:]] == [[]] * 4

    # The list row's badges: one query for the page, the overdue one styled apart.
    with app.test_request_context():
        page = [desk.conv(k) for k in keys]
        with counting(app, cases) as statements:
            markup = render_template_string(
                "{{ kroncases.preload_labels(page) }}{% for c in page %}<row>{{ kroncases.badges(c) }}</row>{% endfor %}",
                page=page)
    assert len(statements) == 1
    rows = re.findall(r"<row>(.*?)</row>", markup)
    assert '<span class="kc-badge kc-badge--overdue">overdue</span>' in rows[0]
    assert "overdue" not in rows[2] and "overdue" not in rows[5]
