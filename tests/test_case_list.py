"""The cases page: filters, sorts and page counts in SQL, visibility, bulk changes, CSV export.

Runs on both databases and both host schemas, and where access matters both
with the host's ``visible_conversations`` clause (SQL) and without it (the
``conversation_access`` hook, once per conversation).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from flask_kroncases import KronCases
from flask_kroncases.services import case_list as case_list_module
from flask_kroncases.services.case_list import BULK_LIMIT, CaseFilters, CaseListService, csv_cell

from .conftest import Desk, table_counts

PAGE = "/kroncases/cases"
BULK = "/kroncases/cases/bulk"
EXPORT = "/kroncases/cases/export.csv"
BASE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@dataclass
class World:
    """Five cases the agent sees (A-E) and one in a conversation only billing sees (H)."""

    ids: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.ids[name]

    def names(self, ids: list[int]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i] for i in ids]


@pytest.fixture
def world(app: Flask, cases: KronCases, desk: Desk) -> World:
    """A: high, the agent's, due in 2 h. B: low, resolved. C: urgent, the admin's, overdue.
    D: medium, unassigned, overdue (another conversation). E: medium, the agent's, pending.
    H: billing's, the outsider's, overdue. Updated, newest first: A D C E B."""
    host = desk.host
    now = datetime.now(UTC)
    with app.app_context():
        agent, outsider, admin = desk.user(desk.agent), desk.user(desk.outsider), desk.user(desk.admin)
        conv, other, hidden = (desk.conv(desk.conversation), desk.conv(desk.other_conversation),
                               desk.conv(desk.hidden_conversation))
        extra = [host.make_message(conv, f"Extra message {i}") for i in range(3)]
        host.db.session.add_all(extra)
        host.db.session.commit()
        specs = {
            "A": (conv, [desk.messages[0]], "Password reset loop", "access", "high"),
            "B": (conv, [desk.messages[1]], "Cookies do not help", "technical", "low"),
            "C": (conv, [host.key(extra[0])], "Account locked", "access", "urgent"),
            "D": (other, [desk.other_messages[0]], "Wrong VAT number on invoice", "billing", "medium"),
            "E": (conv, [host.key(extra[1])], "Reset email missing", "general", "medium"),
        }
        made = {name: cases.create_case(c, desk.msgs(m), title=t, case_type=ty, priority=p, by=agent)
                for name, (c, m, t, ty, p) in specs.items()}
        made["H"] = cases.create_case(hidden, desk.msgs(desk.hidden_messages[:1]), title="Refund for order 5531",
                                      priority="urgent", by=outsider)
        cases.resolve(made["B"], by=agent)
        cases.set_status(made["E"], "pending", by=agent)
        cases.assign(made["A"], agent, by=agent)
        cases.assign(made["E"], agent, by=agent)
        cases.assign(made["C"], admin, by=agent)
        cases.assign(made["H"], outsider, by=outsider)
        ids = {name: case.id for name, case in made.items()}
        Case = cases.models.Case
        due = {"A": now + timedelta(hours=2), "C": now - timedelta(hours=1), "D": now - timedelta(hours=3),
               "E": now + timedelta(days=1), "H": now - timedelta(hours=5)}
        updated = {"A": 5, "B": 1, "C": 3, "D": 4, "E": 2, "H": 6}
        for name, case_id in ids.items():
            values: dict[str, Any] = {"updated_at": BASE + timedelta(minutes=updated[name])}
            if name in due:
                values["due_at"] = due[name]
            host.db.session.execute(sa.update(Case).where(Case.id == case_id).values(**values))
        host.db.session.commit()
    return World(ids)


@pytest.fixture(params=["access hook", "sql clause"])
def visibility(request: pytest.FixtureRequest, cases: KronCases, desk: Desk) -> Iterator[str]:
    """Access through ``conversation_access`` alone, or through ``visible_conversations`` in SQL."""
    if request.param == "sql clause":
        Conversation = desk.host.Conversation
        cases.visible_conversations(
            lambda user: sa.or_(sa.true() if user.is_admin else sa.false(), Conversation.team == user.team))
    yield request.param
    cases.hooks.visible_conversations = None


def client_for(app: Flask, desk: Desk, user_key: Any) -> tuple[FlaskClient, str]:
    with app.app_context():
        client = app.test_client(user=desk.user(user_key))
    return client, client.get("/csrf").get_data(as_text=True)


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-case-id="(\d+)">', html)]


def shown(client: FlaskClient, world: World, query: str = "") -> list[str]:
    response = client.get(PAGE + ("?" + query if query else ""))
    assert response.status_code == 200
    return world.names(row_ids(response.get_data(as_text=True)))


def lead(html: str) -> str:
    found = re.search(r'<p class="kc-cases__lead kc-muted">([^<]*)</p>', html)
    assert found
    return found[1]


def result_lines(html: str) -> list[str]:
    items = re.findall(r"<li class=\"kc-results__item[^\"]*\"[^>]*>\s*<span class=\"kc-results__mark\">[^<]*</span> ([^<]*)</li>",
                       html)
    return [re.sub(r"\s+", " ", item).strip() for item in items]


def activity_count(app: Flask, cases: KronCases) -> int:
    with app.app_context():
        return table_counts(app, cases)[cases.models.CaseActivity.__tablename__]


def case_state(app: Flask, cases: KronCases, case_id: int) -> tuple[Any, ...]:
    with app.app_context():
        Case = cases.models.Case
        row = cases.state.db.session.execute(
            sa.select(Case.status, Case.priority, Case.assignee_id, Case.updated_at, Case.version).where(Case.id == case_id)
        ).one()
        cases.state.db.session.remove()
        return tuple(row)


# -- filters, sorts, page counts -------------------------------------------------------------


def test_each_filter_narrows_the_list_in_sql(app: Flask, cases: KronCases, desk: Desk, world: World,
                                             visibility: str) -> None:
    client, _ = client_for(app, desk, desk.agent)
    assert shown(client, world) == ["A", "D", "C", "E", "B"]  # default: most recently updated first
    assert shown(client, world, "status=resolved") == ["B"]
    assert shown(client, world, "status=pending") == ["E"]
    assert shown(client, world, "type=access") == ["A", "C"]
    assert shown(client, world, "priority=medium") == ["D", "E"]
    assert shown(client, world, "q=reset") == ["A", "E"]
    assert shown(client, world, "assignee=me") == ["A", "E"]
    assert shown(client, world, "assignee=none") == ["D", "B"]
    assert shown(client, world, f"assignee={desk.admin}") == ["C"]
    assert shown(client, world, f"assignee={desk.outsider}") == []  # owns only a case the agent may not see
    assert shown(client, world, "assignee=no-such-agent") == []
    assert shown(client, world, "overdue=1") == ["D", "C"]
    assert shown(client, world, "overdue=1&assignee=none") == ["D"]
    assert shown(client, world, "assignee=me&status=open") == ["A"]
    # Unknown values are dropped, not refused: an old link still opens the page.
    assert shown(client, world, "status=bogus&sort=sideways&type=x") == ["A", "D", "C", "E", "B"]

    admin, _ = client_for(app, desk, desk.admin)
    assert shown(admin, world, "overdue=1") == ["H", "D", "C"]
    assert shown(admin, world, f"assignee={desk.outsider}") == ["H"]


def test_sorts_due_priority_and_updated(app: Flask, cases: KronCases, desk: Desk, world: World,
                                        visibility: str) -> None:
    client, _ = client_for(app, desk, desk.agent)
    assert shown(client, world, "sort=due") == ["D", "C", "A", "E", "B"]  # soonest first, none (resolved) last
    assert shown(client, world, "sort=priority") == ["C", "A", "D", "E", "B"]  # urgent first, then updated
    assert shown(client, world, "sort=updated") == ["A", "D", "C", "E", "B"]
    assert shown(client, world, "sort=due&overdue=1") == ["D", "C"]


def test_page_counts_follow_the_filters_and_what_the_agent_may_see(
    app: Flask, cases: KronCases, desk: Desk, world: World, visibility: str
) -> None:
    app.config["KRONCASES_PER_PAGE"] = 2
    client, _ = client_for(app, desk, desk.agent)
    pages = [shown(client, world, f"sort=due&page={n}") for n in (1, 2, 3)]
    assert pages == [["D", "C"], ["A", "E"], ["B"]]
    html = client.get(PAGE + "?sort=due&page=2").get_data(as_text=True)
    assert "Page 2 of 3" in html and lead(html).startswith("5 cases across")
    # The pager keeps the filters and the sort.
    assert 'href="/kroncases/cases?sort=due&amp;page=3"' in html
    html = client.get(PAGE + "?overdue=1").get_data(as_text=True)
    assert lead(html).startswith("2 cases match") and "Page 1 of" not in html
    # A page past the end shows the last one.
    assert shown(client, world, "sort=due&page=99") == ["B"]

    admin, _ = client_for(app, desk, desk.admin)
    html = admin.get(PAGE).get_data(as_text=True)
    assert lead(html).startswith("6 cases") and "Page 1 of 3" in html


def test_a_case_the_agent_may_not_see_never_shows(app: Flask, cases: KronCases, desk: Desk, world: World,
                                                   visibility: str) -> None:
    client, _ = client_for(app, desk, desk.agent)
    for query in ("", "q=refund", "priority=urgent", "overdue=1", f"assignee={desk.outsider}", "sort=due",
                  "sort=priority", "status=open"):
        html = client.get(PAGE + "?" + query).get_data(as_text=True)
        assert "Refund for order 5531" not in html and world["H"] not in row_ids(html), query
        # Nor does its owner, who owns nothing else the agent may see.
        assert "Olga Outsider" not in html, query
    outsider, _ = client_for(app, desk, desk.outsider)
    assert shown(outsider, world) == ["H"]


def test_rows_show_owner_due_time_overdue_and_links(app: Flask, cases: KronCases, desk: Desk, world: World) -> None:
    client, _ = client_for(app, desk, desk.agent)
    html = client.get(PAGE).get_data(as_text=True)

    def row(name: str) -> str:
        found = re.search(rf'<tr data-case-id="{world[name]}">(.*?)</tr>', html, re.S)
        assert found
        return found[1]

    assert "Alex Agent" in row("A") and "(you)" in row("A") and "Ada Admin" in row("C")
    assert "Unassigned" in row("D") and "Unassigned" in row("B")
    # Overdue is said in words, not only in colour.
    assert ">Overdue<" in row("C") and ">Overdue<" in row("D") and "Overdue" not in row("A")
    assert re.search(r'<time class="kc-time" datetime="[^"]+" title="[^"]+">', row("A"))
    assert "—" in row("B")  # resolved: no due time
    assert f'<a href="/kroncases/cases/{world["D"]}">Wrong VAT number on invoice</a>' in row("D")
    assert f'href="/conversations/{desk.other_conversation}#kc-message-{desk.other_messages[0]}"' in row("D")
    # "Assign to me" on every row that is not the agent's already; a form with its CSRF token.
    assert "Assign case" not in row("A") and "Assign case" not in row("E")
    assert f'aria-label="Assign case #{world["D"]} to me"' in row("D")
    assert re.search(r'<form class="kc-inline-form kc-cases__take" method="post" action="/kroncases/cases/bulk\?page=1">\s*'
                     r'<input type="hidden" name="csrf_token" value="[^"]+">', row("D"))
    # The owner filter and the bulk list offer the owners of visible cases.
    assert f'<option value="{desk.admin}" >Ada Admin</option>' in html
    assert f'<option value="assign:{desk.admin}">Assign to Ada Admin</option>' in html


# -- bulk changes ------------------------------------------------------------------------------


def bulk(client: FlaskClient, token: str | None, action: str, ids: list[Any], query: str = "") -> Any:
    data: dict[str, Any] = {"action": action, "case_ids": [str(i) for i in ids]}
    if token is not None:
        data["csrf_token"] = token
    return client.post(BULK + ("?" + query if query else ""), data=data)


def test_bulk_resolve_reports_each_row_and_keeps_the_filters(
    app: Flask, cases: KronCases, desk: Desk, world: World, visibility: str
) -> None:
    client, token = client_for(app, desk, desk.agent)
    before = activity_count(app, cases)
    untouched = {name: case_state(app, cases, world[name]) for name in ("B", "H")}
    ids = [world["A"], world["B"], 999999, world["H"], world["E"]]
    response = bulk(client, token, "status:resolved", ids, "sort=due&assignee=me&page=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/kroncases/cases?assignee=me&sort=due&page=1#kc-bulk-results"

    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert result_lines(html) == [
        f"Case #{world['A']}: resolved",
        f"Case #{world['B']}: already resolved",
        "Case #999999: not found",
        f"Case #{world['H']}: not found",  # hidden: exactly like a missing case
        f"Case #{world['E']}: resolved",
    ]
    assert "2 of 5 cases changed" in html
    assert html.count("Not changed</span>") == 3
    assert 'id="kc-filter-sort"' in html and '<option value="due" selected>' in html
    # Shown once.
    assert result_lines(client.get(PAGE).get_data(as_text=True)) == []

    assert case_state(app, cases, world["A"])[0] == case_state(app, cases, world["E"])[0] == "resolved"
    assert {name: case_state(app, cases, world[name]) for name in ("B", "H")} == untouched
    assert activity_count(app, cases) == before + 2  # one entry per changed case, none for a refused one


def test_bulk_assign_unassign_priority_reopen_and_status(app: Flask, cases: KronCases, desk: Desk, world: World) -> None:
    client, token = client_for(app, desk, desk.agent)
    with app.app_context():
        admin_name = cases.display_name(desk.user(desk.admin))

    def lines(action: str, *names: str) -> list[str]:
        response = bulk(client, token, action, [world[n] for n in names])
        assert response.status_code == 303, response.get_data(as_text=True)[:300]
        return result_lines(client.get(response.headers["Location"]).get_data(as_text=True))

    a, b, c, d, e = (world[n] for n in "ABCDE")
    assert lines(f"assign:{desk.admin}", "B", "D", "C") == [
        f"Case #{b}: assigned to {admin_name}", f"Case #{d}: assigned to {admin_name}",
        f"Case #{c}: already assigned to {admin_name}"]
    assert lines("assign:none", "A", "D") == [f"Case #{a}: unassigned", f"Case #{d}: unassigned"]
    assert lines("assign:none", "D") == [f"Case #{d}: has no owner already"]
    assert lines("assign:me", "D") == [f"Case #{d}: assigned to you"]
    assert lines("priority:urgent", "A", "C") == [f"Case #{a}: priority set to Urgent",
                                                  f"Case #{c}: already has these values"]
    assert lines("reopen", "B", "A") == [f"Case #{b}: reopened",
                                         f"Case #{a}: Only a resolved case can be reopened; Case #{a} is open"]
    assert lines("status:pending", "A") == [f"Case #{a}: marked pending"]
    assert lines("status:open", "E", "A") == [f"Case #{e}: marked open", f"Case #{a}: marked open"]

    with app.app_context():
        Case = cases.models.Case
        rows = {row.id: row for row in cases.state.db.session.scalars(sa.select(Case))}
        assert rows[d].assignee_id == desk.agent and rows[a].assignee_id is None
        assert rows[b].assignee_id == desk.admin and rows[b].status == "open"
        assert rows[a].priority == "urgent" and rows[a].status == "open" and rows[e].status == "open"


def test_assign_to_me_is_one_click_per_row(app: Flask, cases: KronCases, desk: Desk, world: World) -> None:
    client, token = client_for(app, desk, desk.agent)
    response = bulk(client, token, "assign:me", [world["D"]], "assignee=none")
    assert response.headers["Location"] == "/kroncases/cases?assignee=none#kc-bulk-results"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert result_lines(html) == [f"Case #{world['D']}: assigned to you"]
    assert world.names(row_ids(html)) == ["B"]  # D is no longer unassigned
    assert world.names(row_ids(client.get(PAGE + "?assignee=me").get_data(as_text=True))) == ["D", "A", "E"]


def test_a_refused_request_changes_nothing(app: Flask, cases: KronCases, desk: Desk, world: World) -> None:
    client, token = client_for(app, desk, desk.agent)
    counts = table_counts(app, cases)
    states = {name: case_state(app, cases, world[name]) for name in "ABCDE"}
    ids = [world[n] for n in "ABCDE"]

    too_many = bulk(client, token, "status:resolved", ids + list(range(900000, 900000 + BULK_LIMIT)))
    assert too_many.status_code == 400
    assert f"Select at most {BULK_LIMIT} cases at a time; nothing was changed." in too_many.get_data(as_text=True)
    # Exactly the limit is fine as far as the limit goes (the missing ones are reported per row).
    assert bulk(client, token, "priority:low", list(range(900000, 900000 + BULK_LIMIT))).status_code == 303
    client.get(PAGE)  # read (and drop) those results

    for action, message in (("assign:no-such-agent", "There is no such agent."),
                            ("explode", "Choose what to do with the selected cases."),
                            ("status:closed", "Choose what to do with the selected cases."),
                            ("priority:", "Choose what to do with the selected cases.")):
        refused = bulk(client, token, action, ids)
        assert refused.status_code == 400, action
        assert message in refused.get_data(as_text=True)
    empty = bulk(client, token, "status:resolved", [])
    assert empty.status_code == 400 and "Select at least one case first" in empty.get_data(as_text=True)

    assert table_counts(app, cases) == counts
    assert {name: case_state(app, cases, world[name]) for name in "ABCDE"} == states


def test_bulk_reports_ids_that_are_no_case_as_not_found(app: Flask, cases: KronCases, desk: Desk, world: World) -> None:
    client, token = client_for(app, desk, desk.agent)
    before = activity_count(app, cases)
    hostile = ["abc", "-1", str(2**63), "1\x00", "<b>x</b>", "x" * 300, f"  {world['A']}  "]
    response = bulk(client, token, "priority:low", hostile)
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    lines = result_lines(html)
    assert lines[:6] == ["Case #abc: not found", "Case #-1: not found", f"Case #{str(2**63)[:20]}: not found",
                         "Case #1: not found", "Case #&lt;b&gt;x&lt;/b&gt;: not found", f"Case #{'x' * 20}: not found"]
    assert lines[6] == f"Case #{world['A']}: priority set to Low"  # spaces around an id do not matter
    assert "<b>x</b>" not in html
    assert activity_count(app, cases) == before + 1


def test_bulk_needs_a_csrf_token_and_a_signed_in_agent(app: Flask, cases: KronCases, desk: Desk, world: World) -> None:
    client, token = client_for(app, desk, desk.agent)
    counts = table_counts(app, cases)
    for bad in (None, "forged-token"):
        response = bulk(client, bad, "status:resolved", [world["A"]])
        assert response.status_code == 400
        assert "security token" in response.get_data(as_text=True)
    anonymous = app.test_client()
    assert bulk(anonymous, token, "status:resolved", [world["A"]]).status_code == 401
    assert anonymous.get(EXPORT).status_code in (302, 401)
    assert table_counts(app, cases) == counts
    assert case_state(app, cases, world["A"])[0] == "open"


def test_the_page_asks_the_access_hook_once_per_conversation(app: Flask, cases: KronCases, desk: Desk,
                                                             world: World) -> None:
    asked: Counter[Any] = Counter()
    original = cases.hooks.conversation_access

    def counting(user: Any, conversation: Any) -> bool:
        asked[cases.models.host.conversation.key_of(conversation)] += 1
        return bool(original(user, conversation))

    cases.hooks.conversation_access = counting
    try:
        client, token = client_for(app, desk, desk.agent)
        for url in (PAGE, PAGE + "?sort=priority&overdue=1", EXPORT):
            asked.clear()
            response = client.get(url)
            assert response.status_code == 200 and response.get_data()  # the export runs as its body is read
            assert asked and max(asked.values()) == 1, (url, dict(asked))
    finally:
        cases.hooks.conversation_access = original


# -- CSV export ----------------------------------------------------------------------------------


def read_csv(response: Any) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: spreadsheets read the accents right
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_csv_export_of_the_current_filter(app: Flask, cases: KronCases, desk: Desk, world: World,
                                          visibility: str) -> None:
    app.config["KRONCASES_PER_PAGE"] = 2  # every page goes into the file, not just one
    client, _ = client_for(app, desk, desk.agent)
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert response.headers["Content-Disposition"] == f'attachment; filename="support-cases-{today}.csv"'
    assert "no-store" in response.headers["Cache-Control"]

    rows = read_csv(response)
    assert rows[0] == ["id", "title", "type", "priority", "status", "owner", "due_at", "created_at", "updated_at",
                       "resolved_at", "conversation_id", "case_url"]
    by_id = {int(row[0]): row for row in rows[1:]}
    assert sorted(by_id) == sorted(world[n] for n in "ABCDE")  # every page; never the hidden case
    assert [int(row[0]) for row in rows[1:]] == sorted(by_id)  # in case id order
    a, b, c = by_id[world["A"]], by_id[world["B"]], by_id[world["C"]]
    assert a[1:6] == ["Password reset loop", "access", "high", "open", "Alex Agent"]
    assert c[5] == "Ada Admin" and by_id[world["D"]][5] == ""
    assert b[4] == "resolved" and b[6] == "" and b[9] != ""
    assert datetime.fromisoformat(a[6]).tzinfo is not None and a[9] == ""
    assert a[8] == (BASE + timedelta(minutes=5)).isoformat()
    assert a[10] == str(desk.conversation) and by_id[world["D"]][10] == str(desk.other_conversation)
    assert a[11] == f"http://localhost/kroncases/cases/{world['A']}"

    overdue = read_csv(client.get(EXPORT + "?overdue=1&sort=due"))
    assert sorted(int(row[0]) for row in overdue[1:]) == sorted([world["C"], world["D"]])
    assert read_csv(client.get(EXPORT + "?q=refund"))[1:] == []

    app.config["KRONCASES_BASE_URL"] = "https://help.example.com/desk"
    rows = read_csv(client.get(EXPORT + "?assignee=me"))
    assert [row[11] for row in rows[1:]] == [f"https://help.example.com/desk/kroncases/cases/{world[n]}" for n in "AE"]


def test_csv_cells_cannot_become_formulas(app: Flask, cases: KronCases, desk: Desk) -> None:
    host = desk.host
    titles = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1:A9)", "Plain, with \"quotes\""]
    with app.app_context():
        agent = desk.user(desk.agent)
        conv = desk.conv(desk.conversation)
        evil = host.make_user("=cmd|' /C calc'!A0", "support")
        messages = [host.make_message(conv, f"m{i}") for i in range(len(titles))]
        host.db.session.add_all([evil, *messages])
        host.db.session.commit()
        made = [cases.create_case(conv, [m], title=t, by=agent) for t, m in zip(titles, messages, strict=True)]
        cases.assign(made[0], evil, by=agent)
    client, _ = client_for(app, desk, desk.agent)
    rows = read_csv(client.get(EXPORT))
    assert [row[1] for row in rows[1:]] == ["'" + t for t in titles[:4]] + [titles[4]]
    assert rows[1][5] == "'=cmd|' /C calc'!A0"
    for text, defused in (("\tx", "'\tx"), ("\rx", "'\rx"), ("=1", "'=1"), ("a=1", "a=1"), ("", ""), (None, ""),
                          (12, "12"), ("Zoë", "Zoë")):
        assert csv_cell(text) == defused


def test_csv_export_is_streamed_in_keyset_batches(app: Flask, cases: KronCases, desk: Desk, world: World,
                                                  monkeypatch: pytest.MonkeyPatch, visibility: str) -> None:
    """Memory stays flat: the file is a generator of chunks, each from one bounded query run as it is sent."""
    monkeypatch.setattr(case_list_module, "EXPORT_BATCH", 2)
    with app.app_context():
        engine = cases.state.db.engine
        table = cases.models.Case.__tablename__
    reads: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        flat = " ".join(statement.split())
        if flat.startswith("SELECT") and f"FROM {table} " in flat + " " and "LIMIT" in flat:
            reads.append(flat)

    client, _ = client_for(app, desk, desk.admin)  # sees all six
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(EXPORT, buffered=False)
        assert response.is_streamed and not isinstance(response.response, (list, tuple, bytes))
        assert reads == []  # nothing read before the body is
        seen = []
        for chunk in response.response:
            seen.append((len(reads), (chunk.encode() if isinstance(chunk, str) else chunk).count(b"\r\n")))
        response.close()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # Header; then three chunks of two cases, each read just before it was sent; a last, empty read.
    assert seen == [(0, 1), (1, 2), (2, 2), (3, 2)]
    assert len(reads) == 4
    assert all(re.search(r"LIMIT \S+", statement) for statement in reads)
    assert sum(" > " in statement for statement in reads) == 3  # keyset: id > the last one sent


def test_service_filters_read_from_a_query_string() -> None:
    filters = CaseFilters.from_args({"status": "open", "type": "access", "priority": "urgent", "q": "  a \x00 b ",
                                     "assignee": "me", "overdue": "1", "sort": "due"})
    assert filters == CaseFilters("open", "access", "urgent", "a b", "me", True, "due")
    assert filters.as_args(page=2) == {"status": "open", "type": "access", "priority": "urgent", "q": "a b",
                                       "assignee": "me", "overdue": "1", "sort": "due", "page": "2"}
    assert CaseFilters.from_args({"status": "nope", "sort": "x", "overdue": "no"}) == CaseFilters()
    assert not CaseFilters(sort="due").active and CaseFilters(overdue=True).active
    assert CaseListService  # the service the views call


def test_a_long_list_is_counted_up_to_the_limit_and_its_pages_go_on(
    app: Flask, cases: KronCases, desk: Desk, world: World, visibility: str
) -> None:
    """Past ``KRONCASES_COUNT_LIMIT`` the page says "more than" and pages on without an exact count.

    The access hook's path reads every visible case anyway, so it counts them all.
    """
    app.config["KRONCASES_PER_PAGE"] = 2
    app.config["KRONCASES_COUNT_LIMIT"] = 3
    client, _ = client_for(app, desk, desk.agent)
    assert [shown(client, world, f"sort=due&page={n}") for n in (1, 2, 3)] == [["D", "C"], ["A", "E"], ["B"]]
    first = client.get(PAGE + "?sort=due").get_data(as_text=True)
    if visibility == "access hook":
        assert lead(first).startswith("5 cases across") and "Page 1 of 3" in first
        return
    assert lead(first).startswith("More than 3 cases across") and "Page 1 of more than 2" in first
    assert 'aria-label="Export CSV of all matching cases"' in first
    second = client.get(PAGE + "?sort=due&page=2").get_data(as_text=True)
    assert ">Page 2<" in second and 'rel="next"' in second and 'rel="prev"' in second  # a full page: maybe more
    third = client.get(PAGE + "?sort=due&page=3").get_data(as_text=True)
    assert ">Page 3<" in third and 'rel="next"' not in third
    # Past the end of a long list: counted exactly once, and the last page shown.
    assert shown(client, world, "sort=due&page=99") == ["B"]
    assert lead(client.get(PAGE + "?sort=due&page=99").get_data(as_text=True)).startswith("5 cases across")
    filtered = client.get(PAGE + "?overdue=1").get_data(as_text=True)
    assert lead(filtered).startswith("2 cases match")  # under the limit: exact


@pytest.mark.parametrize("value", [0, -1, 2.5, "10000", True])
def test_the_count_limit_is_checked_at_init_app(value: Any) -> None:
    from flask_kroncases.config import apply_defaults

    with pytest.raises(ValueError, match="KRONCASES_COUNT_LIMIT must be a whole number"):
        apply_defaults({"KRONCASES_COUNT_LIMIT": value})
    config: dict[str, Any] = {"KRONCASES_COUNT_LIMIT": None}
    apply_defaults(config)  # None counts every case
    assert config["KRONCASES_COUNT_LIMIT"] is None
