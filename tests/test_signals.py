"""Signals are sent after commit, once per real change, never for a rolled-back one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases import CaseError, signals

from .conftest import failing_commit, table_counts
from .test_service import create


@contextmanager
def recording(*names: str) -> Iterator[list[tuple[str, Any, dict[str, Any]]]]:
    received: list[tuple[str, Any, dict[str, Any]]] = []
    receivers = []
    for name in names:
        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            received.append((_name, sender, kwargs))
        getattr(signals, name).connect(receiver)
        receivers.append((name, receiver))
    try:
        yield received
    finally:
        for name, receiver in receivers:
            getattr(signals, name).disconnect(receiver)


ALL = ("case_created", "case_status_changed", "case_resolved", "case_reopened", "case_escalated")


def test_each_change_sends_its_signals_with_app_case_and_actor(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    with recording(*ALL) as received:
        case = create(cases, desk)
        cases.set_status(case, "pending", by=agent)
        cases.resolve(case, by=agent)
        cases.reopen(case, by=agent)
        cases.escalate(case, by=agent, reason="VIP customer")
    assert [name for name, _, _ in received] == [
        "case_created",
        "case_status_changed",
        "case_status_changed", "case_resolved",
        "case_status_changed", "case_reopened",
        "case_escalated",
    ]
    assert all(sender is app for _, sender, _ in received)
    assert all(kw["case"].id == case.id and kw["actor"] is agent for _, _, kw in received)
    assert [str(kw.get("previous")) for name, _, kw in received if name == "case_status_changed"] == [
        "open", "pending", "resolved",
    ]
    assert received[-1][2]["reason"] == "VIP customer" and received[-1][2]["level"] == 1


def test_signal_is_sent_after_commit(app, cases, desk, ctx):
    """A receiver on a connection of its own already sees the committed case."""
    seen: list[int] = []

    def receiver(sender: Any, case: Any, actor: Any) -> None:
        with cases.state.db.engine.connect() as conn:
            table = cases.models.Case.__table__
            seen.append(conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.id == case.id)).scalar_one())

    signals.case_created.connect(receiver)
    try:
        create(cases, desk)
    finally:
        signals.case_created.disconnect(receiver)
    assert seen == [1]


def test_no_signal_for_a_rolled_back_change(app, cases, desk, ctx):
    with recording(*ALL) as received:
        with failing_commit(cases.state.db.session), pytest.raises(RuntimeError):
            create(cases, desk)
        with pytest.raises(CaseError):
            create(cases, desk, title="")
    assert received == []
    assert table_counts(app, cases)["kroncases_cases"] == 0


def _race(app: Any, barrier: threading.Barrier, work: Any, results: list[Any]) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            try:
                results.append(work(barrier))
            except CaseError as exc:
                results.append(exc)
            finally:
                app.extensions["sqlalchemy"].session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_two_agents_resolving_at_once_end_in_one_state(app, cases, desk):
    with app.app_context():
        case_id = create(cases, desk).id

    def resolve(barrier: threading.Barrier) -> Any:
        case = cases.get_case(case_id)
        agent = desk.user(desk.agent)
        barrier.wait(timeout=10)  # both have read the open case before either writes
        return cases.resolve(case, by=agent).status

    results: list[Any] = []
    barrier = threading.Barrier(2)
    with recording("case_resolved", "case_status_changed") as received:
        threads = [_race(app, barrier, resolve, results) for _ in range(2)]
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(map(type, results), key=str) == sorted([str, CaseError], key=str)
    error = next(r for r in results if isinstance(r, CaseError))
    assert error.kind == "conflict" and "changed by someone else" in error.message
    assert [name for name, _, _ in received] == ["case_status_changed", "case_resolved"]
    with app.app_context():
        assert cases.get_case(case_id).status == "resolved"
        kinds = [(e.kind, e.to_status) for e in cases.activity_for(desk.conversation)]
        assert kinds == [("created", "open"), ("status_changed", "resolved")]
        assert cases.labels_for([desk.conversation])[desk.conversation] == ["support-case-resolved"]
        assert cases.service.labels_for([desk.conversation], audit=True)[desk.conversation] == [
            "support-case", "support-case-resolved"]


def test_two_agents_taking_the_same_message_at_once_make_one_case(app, cases, desk):
    def take(barrier: threading.Barrier) -> Any:
        conversation = desk.conv(desk.conversation)
        messages = desk.msgs(desk.messages[:2])
        agent = desk.user(desk.agent)
        service = cases.service
        # Both pass validation before either inserts: validate, wait, then create.
        assert service.cases_for_messages(messages) == {}
        barrier.wait(timeout=10)
        return cases.create_case(conversation, messages, title="Locked out", by=agent).id

    results: list[Any] = []
    barrier = threading.Barrier(2)
    with recording("case_created") as received:
        threads = [_race(app, barrier, take, results) for _ in range(2)]
        for thread in threads:
            thread.join(timeout=30)
    errors = [r for r in results if isinstance(r, CaseError)]
    assert len(errors) == 1 and errors[0].kind == "conflict", results
    assert len(received) == 1
    counts = table_counts(app, cases)
    assert counts["kroncases_cases"] == 1 and counts["kroncases_case_messages"] == 2
    assert counts["kroncases_activity"] == 1 and counts["kroncases_conversation_labels"] == 1
