"""The reports page: every figure equals a recount in Python over the rows the agent may see.

A small helpdesk gets cases with fixed times (set with plain UPDATEs after the
service made them) around the edges that matter: the first instant of the
30-day window and the one before it, two cases a second apart across UTC
midnight, a case resolved and reopened, one resolved before the window, pending
cases overdue before and after they started waiting, and cases in a billing
conversation the support agent may not see. On PostgreSQL the session's time
zone is set far from UTC, so a bucket by local day would show.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from flask_kroncases import KronCases
from flask_kroncases.services.reports import REPORT_DAYS, Count

from .conftest import Desk

NOW = datetime(2024, 3, 31, 15, 0, tzinfo=UTC)
#: Midnight UTC of the first of the 30 days the report covers (March 2 .. March 31).
SINCE = datetime(2024, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
US = timedelta(microseconds=1)

#: conversation, type, priority, what the service does, created, resolved, due, pending since.
SPECS: list[tuple[str, str, str, str, datetime, datetime | None, datetime | None, datetime | None]] = [
    ("mine", "access", "urgent", "open", NOW - 6 * H, None, NOW - 2 * H, None),  # overdue
    ("mine", "technical", "high", "open", NOW - H, None, NOW + 23 * H, None),  # not yet due
    ("other", "billing", "medium", "open", SINCE, None, SINCE + 3 * D, None),  # first instant; overdue
    ("mine", "general", "low", "pending", SINCE - US, None, SINCE + 5 * D, SINCE + 8 * D),  # overdue before waiting
    ("other", "technical", "medium", "pending", NOW - 2 * D, None, NOW - H, NOW - D),  # due passed while waiting
    # Resolved in the window: high 1 h and 3 h; medium 10 min, 50 min, 5 h; low 2 days; across UTC midnight.
    ("mine", "technical", "high", "resolved", datetime(2024, 3, 20, 23, 59, 59, tzinfo=UTC),
     datetime(2024, 3, 21, 0, 59, 59, tzinfo=UTC), None, None),
    ("other", "access", "high", "resolved", datetime(2024, 3, 21, 0, 0, 0, tzinfo=UTC),
     datetime(2024, 3, 21, 3, 0, 0, tzinfo=UTC), None, None),
    ("mine", "billing", "medium", "resolved", NOW - 3 * D, NOW - 3 * D + timedelta(minutes=10), None, None),
    ("mine", "billing", "medium", "resolved", NOW - 3 * D, NOW - 3 * D + timedelta(minutes=50), None, None),
    ("other", "general", "medium", "resolved", NOW - 12 * D, NOW - 12 * D + 5 * H, None, None),
    ("mine", "general", "low", "resolved", SINCE - 1 * D, SINCE + 1 * D, None, None),
    # Resolved before the window: in no median, in no day.
    ("mine", "technical", "urgent", "resolved", SINCE - 9 * D, SINCE - 8 * D, None, None),
    # Resolved, then reopened: open now, not resolved on any day.
    ("other", "access", "low", "reopened", NOW - 5 * D, NOW - 4 * D, NOW + 2 * D, None),
    # Billing's: only the admin and the outsider see these.
    ("hidden", "billing", "urgent", "open", NOW - 8 * H, None, NOW - 4 * H, None),
    ("hidden", "billing", "urgent", "resolved", NOW - 2 * D, NOW - 2 * D + 2 * H, None, None),
]


def build(app: Flask, cases: KronCases, desk: Desk, specs: list[Any] = SPECS, shift: timedelta = timedelta(0)) -> None:
    """Make the cases with the service, then give them their fixed times (moved by ``shift``) with a plain UPDATE."""
    host = desk.host
    with app.app_context():
        Case = cases.models.Case
        agent, outsider = desk.user(desk.agent), desk.user(desk.outsider)
        conversations = {"mine": desk.conv(desk.conversation), "other": desk.conv(desk.other_conversation),
                         "hidden": desk.conv(desk.hidden_conversation)}
        for n, (where, case_type, priority, path, created, resolved, due, pending) in enumerate(specs):
            conversation = conversations[where]
            message = host.make_message(conversation, f"Report message {n}")
            host.db.session.add(message)
            host.db.session.commit()
            by = outsider if where == "hidden" else agent
            case = cases.create_case(conversation, [message], title=f"Case {n}", case_type=case_type,
                                     priority=priority, summary="Fixed data.", by=by)
            if path in ("resolved", "reopened"):
                cases.resolve(case, by=by)
            if path == "reopened":
                cases.reopen(case, by=by)
            if path == "pending":
                cases.set_status(case, "pending", by=by)
            created, resolved, due, pending = (None if t is None else t + shift for t in (created, resolved, due, pending))
            host.db.session.execute(sa.update(Case).where(Case.id == case.id).values(
                created_at=created, updated_at=created, resolved_at=resolved, due_at=due, pending_since=pending,
                clock_started_at=None if due is None else created,
            ))
            host.db.session.commit()


def to_today() -> timedelta:
    """Whole days from ``NOW`` to today: the data set moved so the page, which reports as of now, shows it."""
    return (datetime.now(UTC).date() - NOW.date()).days * D


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def recount(app: Flask, cases: KronCases, desk: Desk, user_key: Any) -> dict[str, Any]:
    """The figures, counted in Python over every case row of a conversation the user may see."""
    with app.app_context():
        user = desk.user(user_key)
        rows = [c for c in cases.state.db.session.scalars(sa.select(cases.models.Case))
                if user.is_admin or c.conversation.team == user.team]
        working = [c for c in rows if c.status in ("open", "pending")]
        statuses, types, priorities = (Counter(c.status for c in working), Counter(c.case_type for c in working),
                                       Counter(c.priority for c in working))

        def overdue(c: Any) -> bool:
            due, since = utc(c.due_at), utc(c.pending_since)
            if c.status not in ("open", "pending") or due is None:
                return False
            return due < since if c.status == "pending" and since is not None else due < NOW

        days = [SINCE.date() + timedelta(days=n) for n in range(REPORT_DAYS)]
        resolved = [c for c in rows if c.status == "resolved" and SINCE <= utc(c.resolved_at) <= NOW]
        durations: dict[str, list[float]] = {}
        for c in resolved:
            durations.setdefault(c.priority, []).append((utc(c.resolved_at) - utc(c.created_at)).total_seconds())
        return {
            "by_status": [statuses[s] for s in ("open", "pending")],
            "by_type": [types[t] for t in ("general", "technical", "billing", "access")],
            "by_priority": [priorities[p] for p in ("low", "medium", "high", "urgent")],
            "overdue": sum(overdue(c) for c in rows),
            "days": [(d, sum(1 for c in rows if SINCE <= utc(c.created_at) <= NOW and utc(c.created_at).date() == d),
                      sum(1 for c in resolved if utc(c.resolved_at).date() == d)) for d in days],
            "medians": [(p, statistics.median(durations[p]) if p in durations else None, len(durations.get(p, [])))
                        for p in ("low", "medium", "high", "urgent")],
        }


def figures(report: Any) -> dict[str, Any]:
    return {
        "by_status": [c.count for c in report.by_status],
        "by_type": [c.count for c in report.by_type],
        "by_priority": [c.count for c in report.by_priority],
        "overdue": report.overdue,
        "days": [(d.day, d.created, d.resolved) for d in report.days],
        "medians": [(t.key, t.seconds, t.cases) for t in report.resolve_times],
    }


def report_for(app: Flask, cases: KronCases, desk: Desk, user_key: Any) -> dict[str, Any]:
    with app.app_context():
        session = cases.state.db.session
        if session.get_bind().dialect.name == "postgresql":
            # Thirteen hours ahead of UTC: a bucket by the session's local day would move cases.
            session.execute(sa.text("SET TIME ZONE 'Pacific/Auckland'"))
        found = figures(cases.report(desk.user(user_key), now=NOW))
        session.rollback()
        return found


def assert_same(found: dict[str, Any], expected: dict[str, Any]) -> None:
    medians = found.pop("medians")
    wanted = expected.pop("medians")
    assert found == expected
    assert [(p, n) for p, _, n in medians] == [(p, n) for p, _, n in wanted]
    for (_, seconds, _), (_, expect, _) in zip(medians, wanted, strict=True):
        assert seconds == (None if expect is None else pytest.approx(expect, abs=0.01))


# -- the figures -----------------------------------------------------------------------------


@pytest.mark.parametrize("sql_hook", [False, True], ids=["access-hook", "visible-conversations"])
def test_every_figure_equals_a_python_recount(app: Flask, cases: KronCases, desk: Desk, sql_hook: bool) -> None:
    build(app, cases, desk)
    if sql_hook:
        Conversation = desk.host.Conversation
        cases.visible_conversations(lambda user: sa.or_(sa.true() if user.is_admin else sa.false(),
                                                        Conversation.team == user.team))
    try:
        for who in (desk.agent, desk.admin, desk.outsider):
            assert_same(report_for(app, cases, desk, who), recount(app, cases, desk, who))
    finally:
        cases.hooks.visible_conversations = None

    # The data set reaches every edge: hand-checked figures for the support agent.
    agent = report_for(app, cases, desk, desk.agent)
    assert agent["by_status"] == [4, 2]  # the reopened case is open again
    assert agent["overdue"] == 3  # urgent past due, the window's first case, the pending one overdue before waiting
    days = {d: (c, r) for d, c, r in agent["days"]}
    assert len(days) == REPORT_DAYS and min(days) == SINCE.date() and max(days) == NOW.date()
    assert days[SINCE.date()] == (1, 0)  # created at the first instant counts; a microsecond earlier does not
    assert days[datetime(2024, 3, 20).date()] == (1, 0) and days[datetime(2024, 3, 21).date()] == (1, 2)
    assert sum(c for c, _ in days.values()) == 10 and sum(r for _, r in days.values()) == 6
    medians = {p: (s, n) for p, s, n in agent["medians"]}
    assert medians["high"] == (pytest.approx(2 * 3600, abs=0.01), 2)  # mean of the middle two
    assert medians["medium"] == (pytest.approx(50 * 60, abs=0.01), 3)
    assert medians["low"] == (pytest.approx(2 * 86400, abs=0.01), 1)
    assert medians["urgent"] == (None, 0)  # resolved before the window
    admin = report_for(app, cases, desk, desk.admin)
    assert admin["overdue"] == 4 and dict((p, n) for p, _, n in admin["medians"])["urgent"] == 1


def test_cases_the_agent_may_not_see_are_not_counted(app: Flask, cases: KronCases, desk: Desk) -> None:
    build(app, cases, desk, [s for s in SPECS if s[0] == "hidden"])
    Conversation = desk.host.Conversation
    for sql_hook in (False, True):
        if sql_hook:
            cases.visible_conversations(lambda user: Conversation.team == user.team)
        try:
            agent = report_for(app, cases, desk, desk.agent)
            outsider = report_for(app, cases, desk, desk.outsider)
        finally:
            cases.hooks.visible_conversations = None
        assert agent["by_status"] == [0, 0] and agent["overdue"] == 0
        assert all(c == r == 0 for _, c, r in agent["days"])
        assert all(n == 0 for _, _, n in agent["medians"])
        assert outsider["by_status"] == [1, 0] and outsider["overdue"] == 1
        assert sum(c for _, c, _ in outsider["days"]) == 2 and sum(r for _, _, r in outsider["days"]) == 1


def count_statements(app: Flask, cases: KronCases, run: Any) -> int:
    with app.app_context():
        engine = cases.state.db.engine
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def test_figures_are_counted_in_one_sql_statement(app: Flask, cases: KronCases, desk: Desk) -> None:
    """With visible_conversations the report is one statement and asks no access hook, however many cases."""
    Conversation = desk.host.Conversation
    asked: list[Any] = []
    access = cases.hooks.conversation_access

    def spy(user: Any, conversation: Any) -> bool:
        asked.append(conversation)
        return bool(access(user, conversation))

    def run() -> None:
        with app.app_context():
            cases.report(desk.user(desk.agent), now=NOW)

    cases.visible_conversations(lambda user: Conversation.team == user.team)
    cases.hooks.conversation_access = spy
    try:
        build(app, cases, desk, SPECS[:3])
        asked.clear()
        few = count_statements(app, cases, run)
        build(app, cases, desk, SPECS[3:])
        asked.clear()
        many = count_statements(app, cases, run)
    finally:
        cases.hooks.visible_conversations = None
        cases.hooks.conversation_access = access
    assert few == many == 2  # the user's row, then every figure in one statement
    assert asked == []


# -- the page ------------------------------------------------------------------------------


def client_for(app: Flask, desk: Desk, user_key: Any) -> FlaskClient:
    with app.app_context():
        return app.test_client(user=desk.user(user_key))


def table(html: str, report_id: str) -> dict[str, list[str]]:
    """A report section's table: row heading -> cells (tags stripped)."""
    section = re.search(rf'<section[^>]*data-kc-report="{report_id}".*?</section>', html, re.S)
    assert section, f"no {report_id} section"
    rows = re.findall(r'<tr class="kc-table__row"[^>]*>\s*<th[^>]*scope="row"[^>]*>(.*?)</th>(.*?)</tr>',
                      section.group(0), re.S)
    return {re.sub(r"<[^>]+>", "", head).strip(): [re.sub(r"<[^>]+>", "", c).strip()
                                                   for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
            for head, cells in rows}


def test_reports_page_shows_the_figures_with_charts_and_tables(app: Flask, cases: KronCases, desk: Desk) -> None:
    build(app, cases, desk, shift=to_today())
    with app.app_context():
        report = cases.report(desk.user(desk.agent))
    response = client_for(app, desk, desk.agent).get("/kroncases/reports")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<body class="kc-page">' in html and "<title>Reports · Support cases</title>" in html  # our layout.html
    assert table(html, "kc-report-status") == {c.label: [str(c.count)] for c in report.by_status}
    assert table(html, "kc-report-type") == {c.label: [str(c.count)] for c in report.by_type}
    assert table(html, "kc-report-priority") == {c.label: [str(c.count)] for c in report.by_priority}
    days = table(html, "kc-report-days")
    assert len(days) == REPORT_DAYS
    assert sorted(tuple(map(int, v)) for v in days.values()) == sorted((d.created, d.resolved) for d in report.days)
    resolve = table(html, "kc-report-resolve")
    assert [int(v[1]) for v in resolve.values()] == [t.cases for t in report.resolve_times]
    assert resolve["High"][0] != "—" and resolve["Urgent"] == ["—", "0"]
    assert re.search(rf'data-kc-tile="overdue"><span class="kc-reports__figure">{report.overdue}</span>', html)
    assert 'href="/kroncases/cases?overdue=1"' in html
    # Five charts: images with a title and a description, each followed by a captioned table.
    charts = re.findall(r'<svg class="kc-chart[^"]*" id="([\w-]+)"[^>]*role="img"[^>]*aria-labelledby="([\w-]+)" aria-describedby="([\w-]+)"', html)
    assert len(charts) == 5
    for _chart, title_id, desc_id in charts:
        assert f'<title id="{title_id}">' in html and f'<desc id="{desc_id}">' in html
    assert html.count("<caption") == 5 and html.count('scope="col"') == 12
    assert 'fill="url(#kc-report-hatch)"' in html  # resolved bars are striped, not only another colour
    assert "UTC" in html and "a day is a UTC calendar day" in html


def test_hidden_cases_never_reach_the_page(app: Flask, cases: KronCases, desk: Desk) -> None:
    build(app, cases, desk, [s for s in SPECS if s[0] == "hidden"], shift=to_today())
    html = client_for(app, desk, desk.agent).get("/kroncases/reports").get_data(as_text=True)
    assert table(html, "kc-report-priority")["Urgent"] == ["0"]
    assert 'data-kc-tile="overdue"><span class="kc-reports__figure">0</span>' in html
    assert "overdue=1" not in html
    outsider = client_for(app, desk, desk.outsider).get("/kroncases/reports").get_data(as_text=True)
    assert table(outsider, "kc-report-priority")["Urgent"] == ["1"]


def test_reports_page_without_any_case(app: Flask, cases: KronCases, desk: Desk) -> None:
    html = client_for(app, desk, desk.agent).get("/kroncases/reports").get_data(as_text=True)
    assert all(v == ["0"] for v in table(html, "kc-report-status").values())
    assert all(v == ["0", "0"] for v in table(html, "kc-report-days").values())
    assert all(v == ["—", "0"] for v in table(html, "kc-report-resolve").values())
    assert html.count('<rect class="kc-chart__bar"') == 1  # only the legend's swatch: no bar of height 0
    assert "overdue=1" not in html


def test_signed_out_visitors_get_the_login_answer(app: Flask, cases: KronCases) -> None:
    assert app.test_client().get("/kroncases/reports").status_code in (302, 401)
    assert app.test_client().get("/kroncases/reports", headers={"Accept": "application/json"}).status_code == 401
    with app.app_context(), pytest.raises(Exception, match="Sign in"):
        cases.report(None)


def test_signed_out_visitors_go_to_the_hosts_login_and_agents_see_its_layout(database: Any) -> None:
    """In the demo helpdesk: its login view for a visitor, its own page frame (layout.html override) for an agent."""
    from flask_login import FlaskLoginClient

    from examples.host_app import create_app
    from examples.host_app.models import User, db

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database.url,
                      "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options})
    app.test_client_class = FlaskLoginClient
    try:
        response = app.test_client().get("/kroncases/reports")
        assert response.status_code == 302 and response.location.startswith("/login?next=")
        with app.app_context():
            bea = db.session.scalar(sa.select(User).where(User.email == "bea@example.com"))
            client = app.test_client(user=bea)
        html = client.get("/kroncases/reports").get_data(as_text=True)
        assert 'class="nav__brand"' in html and "kc-page-embedded" in html  # the demo's frame, not ours
        assert re.search(r'<a href="/kroncases/reports" aria-current="page">Reports</a>', html)
        assert table(html, "kc-report-status") == {"Open": ["0"], "Pending": ["0"]}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_days_are_named_in_the_agents_language(database: Any) -> None:
    """With Flask-Babel, the days of the table and chart follow the agent's locale; the ISO date stays beside them."""
    from babel.dates import format_skeleton
    from flask_login import FlaskLoginClient

    from examples.host_app import create_app
    from examples.host_app.models import User, db

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database.url,
                      "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options})
    app.test_client_class = FlaskLoginClient
    try:
        for email, locale in (("jonas@example.com", "de"), ("bea@example.com", "en")):
            with app.app_context():
                agent = db.session.scalar(sa.select(User).where(User.email == email))
                assert agent.locale == locale
                client = app.test_client(user=agent)
            html = client.get("/kroncases/reports").get_data(as_text=True)
            rows = re.findall(r'data-kc-day="([\d-]+)"><th[^>]*><time class="kc-time" datetime="\1">([^<]+)</time>', html)
            assert len(rows) == REPORT_DAYS
            for iso, shown in rows:
                assert shown == format_skeleton("MMMEd", datetime.fromisoformat(iso).date(), locale=locale), (email, iso)
            first = datetime.fromisoformat(rows[-1][0]).date()
            assert f'text-anchor="middle">{format_skeleton("MMMd", first, locale=locale)}</text>' in html
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_count_rows_follow_the_enums(app: Flask, cases: KronCases, desk: Desk) -> None:
    with app.app_context():
        report = cases.report(desk.user(desk.agent), now=NOW)
    assert report.by_status == [Count("open", "Open", 0), Count("pending", "Pending", 0)]
    assert [c.key for c in report.by_type] == ["general", "technical", "billing", "access"]
    assert [t.key for t in report.resolve_times] == ["low", "medium", "high", "urgent"]
    assert report.since == SINCE and report.now == NOW and report.days[-1].day == NOW.date()
