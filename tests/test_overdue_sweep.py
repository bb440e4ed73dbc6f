"""Overdue cases: the pageable list an agent may see, and the worker's sweep that reports them once per due time."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases import jobs, signals
from flask_kroncases.models import as_utc, utcnow
from flask_kroncases.services import due as due_service
from flask_kroncases.services.serialization import iso

from .hosts import HOSTS
from .support.worker import ROOT, flask_command, worker_env
from .test_due_times import set_rows
from .test_service import create
from .test_signals import recording
from .test_webhooks import app_config, endpoint, receiver, verify  # noqa: F401  (fixtures)
from .test_workflow import counts, deliveries, stored


def overdue_ids(cases: Any, user: Any, **kwargs: Any) -> list[int]:
    return [case.id for case in cases.state.db.session.scalars(cases.service.overdue(by=user, **kwargs))]


@pytest.fixture
def late(app: Any, cases: Any, desk: Any, ctx: Any) -> dict[str, int]:
    """Cases in three conversations, due 3, 2 and 1 hours ago, one due tomorrow and one resolved."""
    agent, admin = desk.user(desk.agent), desk.user(desk.admin)
    now = utcnow()
    made = {
        "hidden": cases.create_case(desk.conv(desk.hidden_conversation), desk.msgs(desk.hidden_messages[:1]),
                                    title="Refund", by=admin).id,
        "mine": create(cases, desk, message_keys=desk.messages[:1]).id,
        "other": cases.create_case(desk.conv(desk.other_conversation), desk.msgs(desk.other_messages[:1]),
                                   title="VAT", by=agent).id,
        "tomorrow": create(cases, desk, message_keys=desk.messages[1:2]).id,
        "resolved": create(cases, desk, message_keys=desk.messages[2:3]).id,
    }
    for name, hours in (("hidden", 3), ("mine", 2), ("other", 1), ("tomorrow", -24), ("resolved", 5)):
        set_rows(cases, made[name], clock_started_at=now - timedelta(days=10), due_at=now - timedelta(hours=hours))
    cases.resolve(made["resolved"], by=agent)
    return made


def test_overdue_lists_past_due_cases_the_user_may_see_most_overdue_first(app, cases, desk, late, ctx):
    agent, outsider, admin = desk.user(desk.agent), desk.user(desk.outsider), desk.user(desk.admin)
    assert overdue_ids(cases, agent) == [late["mine"], late["other"]]
    assert overdue_ids(cases, outsider) == [late["hidden"]]
    assert overdue_ids(cases, admin) == [late["hidden"], late["mine"], late["other"]]
    assert [c.id for c in cases.state.db.session.scalars(cases.overdue(by=admin))] == overdue_ids(cases, admin)
    assert overdue_ids(cases, None) == []
    later = utcnow() + timedelta(days=2)
    assert overdue_ids(cases, agent, now=later) == [late["mine"], late["other"], late["tomorrow"]]


def test_overdue_is_a_select_db_paginate_pages(app, cases, desk, late, ctx):
    db, admin = cases.state.db, desk.user(desk.admin)
    first = db.paginate(cases.overdue(by=admin), page=1, per_page=2, error_out=False)
    second = db.paginate(cases.overdue(by=admin), page=2, per_page=2, error_out=False)
    assert (first.total, first.pages) == (3, 2)
    assert [c.id for c in first.items] == [late["hidden"], late["mine"]]
    assert [c.id for c in second.items] == [late["other"]]
    Case = cases.models.Case
    narrowed = cases.overdue(by=admin).where(Case.conversation_id == desk.conversation)   # the host filters further
    assert [c.id for c in db.session.scalars(narrowed)] == [late["mine"]]


def test_overdue_filters_in_sql_with_the_visible_conversations_hook(app, cases, desk, late, ctx):
    Conversation = desk.host.Conversation
    asked: list[Any] = []
    access = cases.hooks.conversation_access
    cases.hooks.conversation_access = lambda user, conversation: asked.append(conversation) or access(user, conversation)
    cases.visible_conversations(lambda user: sa.or_(sa.true() if user.is_admin else sa.false(),
                                                    Conversation.team == user.team))
    try:
        agent, outsider, admin = desk.user(desk.agent), desk.user(desk.outsider), desk.user(desk.admin)
        assert overdue_ids(cases, agent) == [late["mine"], late["other"]]
        assert overdue_ids(cases, outsider) == [late["hidden"]]
        page = cases.state.db.paginate(cases.overdue(by=admin), page=2, per_page=2, error_out=False)
        assert page.total == 3 and [c.id for c in page.items] == [late["other"]]
        assert asked == []   # no question per conversation: the clause did it
    finally:
        cases.hooks.visible_conversations = None
        cases.hooks.conversation_access = access


def test_a_pending_case_is_overdue_only_if_it_was_when_it_started_waiting(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    now = utcnow()
    waiting_in_time = create(cases, desk, message_keys=desk.messages[:1]).id
    waiting_late = create(cases, desk, message_keys=desk.messages[1:2]).id
    for case_id in (waiting_in_time, waiting_late):
        cases.set_status(case_id, "pending", by=agent)
    # Paused two hours ago with an hour to spare: the clock stands, so it is not overdue.
    set_rows(cases, waiting_in_time, pending_since=now - timedelta(hours=2), due_at=now - timedelta(hours=1))
    # Paused an hour ago when it was already an hour late: it stays overdue while it waits.
    set_rows(cases, waiting_late, pending_since=now - timedelta(hours=1), due_at=now - timedelta(hours=2))
    assert overdue_ids(cases, agent) == [waiting_late]
    session = cases.state.db.session
    assert not due_service.is_overdue(session.get(cases.models.Case, waiting_in_time), now)
    assert due_service.is_overdue(session.get(cases.models.Case, waiting_late), now)
    assert cases.service.sweep_overdue() == 1
    cases.set_status(waiting_in_time, "open", by=agent)   # the wait moves the due time on: still not overdue
    assert overdue_ids(cases, agent) == [waiting_late]


def test_the_sweep_reports_each_due_time_once(app, cases, desk, receiver, ctx):  # noqa: F811
    four, _ = endpoint(cases, receiver.url + "/four")
    chose, secret = endpoint(cases, receiver.url + "/overdue", events=["case.overdue"])
    agent = desk.user(desk.agent)
    case_id = create(cases, desk, priority="medium").id
    assert cases.service.sweep_overdue() == 0   # due in three days
    started = utcnow() - timedelta(days=10)
    set_rows(cases, case_id, clock_started_at=started, due_at=started + timedelta(days=3))
    before = counts(app, cases)

    with recording("case_overdue") as received:
        assert cases.service.sweep_overdue() == 1
        assert cases.service.sweep_overdue() == 0   # the same due time: nothing more
    [(_, sender, kw)] = received
    assert sender is app and kw["case"].id == case_id and kw["actor"] is None
    after = counts(app, cases)
    assert after["kroncases_activity"] == before["kroncases_activity"] + 1
    assert after["kroncases_webhook_deliveries"] == before["kroncases_webhook_deliveries"] + 1
    entry = [e for e in cases.activity_for(desk.conversation) if e.kind == "overdue"]
    assert [(e.actor_id, e.from_status, e.to_status, e.detail) for e in entry] == [
        (None, "open", "open", {"due_at": iso(started + timedelta(days=3))})]
    assert as_utc(stored(cases, case_id)["overdue_notified_for"]) == started + timedelta(days=3)

    rows = deliveries(cases)
    assert [(r.endpoint_id, r.event_type) for r in rows] == [(four.id, "case.created"), (chose.id, "case.overdue")]
    assert cases.state.delivery.deliver(rows[-1].id) == "delivered"
    body = verify(receiver.hits[-1], secret)
    assert body["type"] == "case.overdue" and body["data"]["actor"] is None
    assert body["data"]["due_at"] == body["data"]["case"]["due_at"] == iso(started + timedelta(days=3))
    assert body["data"]["case"]["url"] == f"https://help.example.com/kroncases/cases/{case_id}"

    with recording("case_overdue") as received:
        cases.update(case_id, by=agent, priority="urgent")   # a new due time, passed already
        assert cases.service.sweep_overdue() == 1
        assert cases.service.sweep_overdue() == 0
        cases.resolve(case_id, by=agent)
        assert cases.service.sweep_overdue() == 0
        cases.reopen(case_id, by=agent)   # a fresh clock: due in four hours
        assert cases.service.sweep_overdue() == 0
        assert cases.service.sweep_overdue(now=utcnow() + timedelta(hours=5)) == 1
        assert cases.service.sweep_overdue(now=utcnow() + timedelta(hours=6)) == 0
    assert len(received) == 2
    dues = [json.loads(r.body)["data"]["due_at"] for r in deliveries(cases) if r.event_type == "case.overdue"]
    assert len(dues) == len(set(dues)) == 3 and dues[1] == iso(started + timedelta(hours=4))


def test_a_change_between_the_sweeps_select_and_its_mark_wins(app, cases, desk, monkeypatch, ctx):
    """The agent moved the due time (or resolved the case) while the sweep ran: it reports neither, quietly."""
    endpoint(cases, "http://127.0.0.1:9/overdue", events=["case.overdue"])
    agent = desk.user(desk.agent)
    started = utcnow() - timedelta(days=10)
    moved = create(cases, desk, message_keys=desk.messages[:1], priority="medium").id
    resolved = create(cases, desk, message_keys=desk.messages[1:2], priority="medium").id
    untouched = create(cases, desk, message_keys=desk.messages[2:3], priority="medium").id
    for case_id in (moved, resolved, untouched):
        set_rows(cases, case_id, clock_started_at=started, due_at=started + timedelta(days=3))
    service = cases.service
    report = service._report_overdue
    Case = cases.models.Case

    def meanwhile(*args: Any, **kwargs: Any) -> bool:
        """Another agent's change lands after the sweep's select, before it marks the cases."""
        if not getattr(meanwhile, "done", False):
            meanwhile.done = True  # type: ignore[attr-defined]
            with cases.state.db.engine.begin() as conn:
                conn.execute(sa.update(Case).where(Case.id == moved).values(due_at=utcnow() + timedelta(days=1)))
                conn.execute(sa.update(Case).where(Case.id == resolved)
                             .values(status="resolved", due_at=None, resolved_at=utcnow(), version=Case.version + 1))
        return report(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(service, "_report_overdue", meanwhile)
    before = counts(app, cases)
    with recording("case_overdue") as received:
        assert service.sweep_overdue() == 1
    assert [kw["case"].id for _, _, kw in received] == [untouched]
    after = counts(app, cases)
    assert after["kroncases_activity"] == before["kroncases_activity"] + 1
    assert after["kroncases_webhook_deliveries"] == before["kroncases_webhook_deliveries"] + 1
    assert stored(cases, moved)["overdue_notified_for"] is None
    assert stored(cases, resolved)["overdue_notified_for"] is None
    assert not cases.state.db.session.new and not cases.state.db.session.dirty
    monkeypatch.undo()
    assert service.sweep_overdue() == 0
    assert cases.reopen(resolved, by=agent).status == "open"   # the case is as the other agent left it


def test_the_workers_sweep_job_reports_overdue_cases(app, cases, desk, receiver, host, database, app_config, ctx):  # noqa: F811
    """``flask kroncases worker --burst`` runs the sweep job, then the delivery job it enqueued."""
    _, secret = endpoint(cases, receiver.url, events=["case.overdue"])
    case_id = create(cases, desk, priority="high").id
    started = utcnow() - timedelta(days=3)
    set_rows(cases, case_id, clock_started_at=started, due_at=started + timedelta(days=1))
    host_name = next(name for name, module in HOSTS.items() if module is host)
    env = worker_env(host_name, database, app_config)
    for _ in range(2):
        result = subprocess.run(flask_command("worker", "--burst"), env=env, cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    [hit] = receiver.hits
    body = verify(hit, secret)
    assert body["type"] == "case.overdue" and body["data"]["actor"] is None
    assert body["data"]["case"]["id"] == case_id
    assert body["data"]["due_at"] == iso(started + timedelta(days=1))
    cases.state.db.session.expire_all()
    assert [(e.kind, e.actor_id) for e in cases.activity_for(desk.conversation)] == [
        ("created", desk.agent), ("overdue", None)]


def test_the_sweep_job_in_process(app, cases, desk, ctx):
    case_id = create(cases, desk, priority="urgent").id
    set_rows(cases, case_id, due_at=utcnow() - timedelta(minutes=1))
    seen: list[int] = []

    def overdue(sender: Any, case: Any, actor: Any) -> None:
        seen.append(case.id)   # the job's session is gone once it returns

    signals.case_overdue.connect(overdue)
    try:
        jobs.sweep()
        jobs.sweep()
    finally:
        signals.case_overdue.disconnect(overdue)
    assert seen == [case_id]


def test_two_sweepers_at_once_report_a_due_time_once(app, cases, desk, monkeypatch):
    """Each worker runs a sweeper: both select the case before either marks it; one report goes out."""
    import threading

    with app.app_context():
        endpoint(cases, "http://127.0.0.1:9/overdue", events=["case.overdue"])
        case_id = create(cases, desk, priority="urgent").id
        set_rows(cases, case_id, due_at=utcnow() - timedelta(minutes=5))
        service = cases.service
    report = service._report_overdue
    barrier = threading.Barrier(2)

    def after_both_selected(*args: Any, **kwargs: Any) -> bool:
        barrier.wait(timeout=10)
        return report(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(service, "_report_overdue", after_both_selected)
    results: list[Any] = []

    def sweeper() -> None:
        with app.app_context():
            try:
                results.append(service.sweep_overdue())
            except Exception as exc:  # the test shows it
                results.append(exc)
            finally:
                app.extensions["sqlalchemy"].session.remove()

    with recording("case_overdue") as received:
        threads = [threading.Thread(target=sweeper) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(results) == [0, 1]
    assert len(received) == 1
    with app.app_context():
        assert [r.event_type for r in deliveries(cases)] == ["case.overdue"]
        assert [e.kind for e in cases.activity_for(desk.conversation)] == ["created", "overdue"]


def test_overdue_without_the_sql_hook_binds_one_parameter_for_any_number_of_conversations(app, cases, desk, ctx):
    """Past PostgreSQL's 65,535 bind parameters: the access hook's answers go in as one array."""
    db = cases.state.db
    if db.engine.dialect.name != "postgresql" or desk.host is not HOSTS["classic"]:
        pytest.skip("the parameter limit is PostgreSQL's; one host schema is enough to prove it")
    count, p = 66_000, cases.models.table_prefix
    with db.engine.begin() as conn:
        first = conn.execute(sa.text(
            "INSERT INTO conversations (subject, team) SELECT 'Bulk ' || n, 'support' "
            "FROM generate_series(1, :count) AS n RETURNING id"), {"count": count}).scalars().all()
        conn.execute(sa.text(
            f"INSERT INTO {p}cases (conversation_id, title, case_type, priority, status, created_at, updated_at, "
            "escalation_level, includes_opening, paused_seconds, summary_by_agent, version, due_at) "
            "SELECT id, 'Late', 'general', 'medium', 'open', now(), now(), 0, false, 0, false, 1, "
            "now() - interval '1 hour' FROM conversations WHERE id = ANY(:ids)"), {"ids": list(first)})
    stmt = cases.service.overdue(by=desk.user(desk.agent))
    assert len(stmt.compile(dialect=db.engine.dialect).params) < 10
    assert db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) == count
