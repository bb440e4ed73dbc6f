"""The case service: creation, validation, status moves, activity, labels."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases import CaseError, KronCases

from .conftest import Desk, table_counts


def create(cases: KronCases, desk: Desk, message_keys: list[Any] | None = None, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "title": "Login fails after password reset",
        "case_type": "access",
        "priority": "high",
        "summary": "Customer cannot log in after resetting the password.",
        "by": desk.user(desk.agent),
    }
    params.update(overrides)
    keys = desk.messages[:2] if message_keys is None else message_keys
    return cases.create_case(desk.conv(desk.conversation), desk.msgs(keys), **params)


def test_create_case_writes_case_links_activity_and_label(app, cases, desk, ctx):
    case = create(cases, desk)
    assert case.id is not None
    assert case.status == "open"
    assert case.title == "Login fails after password reset"
    assert case.message_ids == desk.messages[:2]
    assert case.created_by_id == desk.agent
    entries = cases.activity_for(desk.conversation)
    assert [(e.kind, e.to_status, e.actor_id) for e in entries] == [("created", "open", desk.agent)]
    assert entries[0].detail["priority"] == "high"
    assert cases.labels_for([desk.conversation]) == {desk.conversation: ["support-case"]}
    assert cases.case_for_message(desk.msgs(desk.messages[:1])[0]).id == case.id
    assert cases.case_for_message(desk.msgs(desk.messages[2:3])[0]) is None
    assert [c.id for c in cases.for_conversation(desk.conv(desk.conversation))] == [case.id]


def test_create_case_accepts_message_keys_and_trims_title(app, cases, desk, ctx):
    case = cases.create_case(
        desk.conv(desk.conversation), [str(k) for k in desk.messages[1:3]],
        title="   Account   locked  ", case_type="Technical", priority="URGENT", by=desk.user(desk.agent),
    )
    assert case.title == "Account locked"
    assert (case.case_type, case.priority) == ("technical", "urgent")
    assert case.message_ids == desk.messages[1:3]


BAD_INPUT = {
    "81-char title": ({"title": "x" * 81}, "title", "80 characters; it has 81."),
    "blank title": ({"title": "   "}, "title", "Enter a title"),
    "title not text": ({"title": 12}, "title", "Enter a title"),
    "unknown priority": ({"priority": "critical"}, "priority", "Choose one of Low, Medium, High, Urgent"),
    "unknown type": ({"case_type": "sales"}, "case_type", "Choose one of General, Technical, Billing, Access"),
    "summary not text": ({"summary": ["x"]}, "summary", "must be text"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_fields_are_refused_and_nothing_is_written(app, cases, desk, ctx, name):
    overrides, field, text = BAD_INPUT[name]
    before = table_counts(app, cases)
    with pytest.raises(CaseError) as info:
        create(cases, desk, **overrides)
    assert info.value.kind == "invalid" and info.value.http_status == 400
    assert text in " ".join(info.value.errors[field])
    assert table_counts(app, cases) == before
    assert not cases.state.db.session.new


def test_81_char_title_is_refused_but_80_is_fine(app, cases, desk, ctx):
    with pytest.raises(CaseError):
        create(cases, desk, title="a" * 81)
    assert create(cases, desk, title="a" * 80).title == "a" * 80


def test_empty_selection_is_refused(app, cases, desk, ctx):
    before = table_counts(app, cases)
    with pytest.raises(CaseError) as info:
        create(cases, desk, message_keys=[])
    assert info.value.errors == {"messages": ["Select at least one message."]}
    assert table_counts(app, cases) == before


def test_message_of_another_conversation_is_refused(app, cases, desk, ctx):
    before = table_counts(app, cases)
    with pytest.raises(CaseError) as info:
        create(cases, desk, message_keys=[desk.messages[0], desk.other_messages[0]])
    assert info.value.kind == "invalid"
    assert info.value.errors["messages"] == [f"Message {desk.other_messages[0]} is not in this conversation."]
    assert table_counts(app, cases) == before
    assert not cases.state.db.session.new


def test_unknown_message_key_is_refused(app, cases, desk, ctx, host):
    missing = 987654 if host.__name__.endswith("classic") else "00000000-0000-4000-8000-000000000000"
    with pytest.raises(CaseError) as info:
        cases.create_case(desk.conv(desk.conversation), [missing], title="t", by=desk.user(desk.agent))
    assert info.value.errors["messages"] == [f"Message {missing} is not in this conversation."]


def test_message_already_in_a_case_is_a_conflict(app, cases, desk, ctx):
    first = create(cases, desk)
    before = table_counts(app, cases)
    with pytest.raises(CaseError) as info:
        create(cases, desk, message_keys=[desk.messages[1], desk.messages[2]])
    assert info.value.kind == "conflict" and info.value.http_status == 409
    assert info.value.errors["messages"] == [f"Message {desk.messages[1]} is already logged under Case #{first.id}."]
    assert table_counts(app, cases) == before


def test_conversation_the_actor_may_not_see_is_refused(app, cases, desk, ctx):
    before = table_counts(app, cases)
    with pytest.raises(CaseError) as info:
        create(cases, desk, by=desk.user(desk.outsider))
    # Refused like a conversation that does not exist: the refusal tells nothing.
    assert info.value.kind == "not_found" and info.value.http_status == 404
    assert info.value.message == "This conversation does not exist."
    assert table_counts(app, cases) == before


def test_non_existent_case_is_not_found(app, cases, desk, ctx):
    for call in (
        lambda: cases.resolve(424242, by=desk.user(desk.agent)),
        lambda: cases.escalate(424242, by=desk.user(desk.agent), reason="x"),
        lambda: cases.get_case("nope"),
    ):
        with pytest.raises(CaseError) as info:
            call()
        assert info.value.kind == "not_found" and info.value.http_status == 404


def test_status_moves_follow_the_design(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    assert cases.set_status(case, "pending", by=agent).status == "pending"
    assert cases.set_status(case, "open", by=agent).status == "open"
    assert cases.set_status(case, "pending", by=agent).status == "pending"
    assert cases.resolve(case, by=agent).status == "resolved"
    assert case.resolved_at is not None
    assert cases.reopen(case, by=agent).status == "open"
    assert cases.resolve(case, by=agent).status == "resolved"
    moves = [(e.kind, e.from_status, e.to_status) for e in cases.activity_for(desk.conversation)]
    assert moves == [
        ("created", None, "open"),
        ("status_changed", "open", "pending"),
        ("status_changed", "pending", "open"),
        ("status_changed", "open", "pending"),
        ("status_changed", "pending", "resolved"),
        ("status_changed", "resolved", "open"),
        ("status_changed", "open", "resolved"),
    ]


@pytest.mark.parametrize(
    ("setup", "call", "field"),
    [
        ([], lambda c, case, u: c.reopen(case, by=u), "status"),
        ([], lambda c, case, u: c.set_status(case, "open", by=u), "status"),
        (["resolve"], lambda c, case, u: c.set_status(case, "pending", by=u), "status"),
        (["resolve"], lambda c, case, u: c.resolve(case, by=u), "status"),
        (["resolve"], lambda c, case, u: c.escalate(case, by=u, reason="angry"), "status"),
        ([], lambda c, case, u: c.set_status(case, "closed", by=u), "status"),
        ([], lambda c, case, u: c.escalate(case, by=u, reason="  "), "reason"),
    ],
)
def test_illegal_moves_change_nothing(app, cases, desk, ctx, setup, call, field):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    if "resolve" in setup:
        cases.resolve(case, by=agent)
    before = table_counts(app, cases)
    status_before = case.status
    with pytest.raises(CaseError) as info:
        call(cases, case, agent)
    assert field in info.value.errors and info.value.message
    assert table_counts(app, cases) == before
    cases.state.db.session.expire_all()
    assert cases.get_case(case.id).status == status_before


def test_escalate_records_reason_and_level(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    cases.escalate(case, by=agent, reason="Customer is losing sales")
    cases.set_status(case, "pending", by=agent)
    cases.escalate(case, by=agent, reason="Still locked after 2 days")
    assert (case.escalation_level, case.escalation_reason) == (2, "Still locked after 2 days")
    assert case.escalated_at is not None and case.status == "pending"
    escalations = [e.detail for e in cases.activity_for(desk.conversation) if e.kind == "escalated"]
    assert escalations == [
        {"reason": "Customer is losing sales", "level": 1},
        {"reason": "Still locked after 2 days", "level": 2},
    ]


def test_changes_by_someone_who_may_not_see_the_conversation_are_refused(app, cases, desk, ctx):
    case = create(cases, desk)
    outsider = desk.user(desk.outsider)
    before = table_counts(app, cases)
    for call in (
        lambda: cases.resolve(case, by=outsider),
        lambda: cases.set_status(case, "pending", by=outsider),
        lambda: cases.escalate(case, by=outsider, reason="x"),
        lambda: cases.get_case(case.id, by=outsider),
    ):
        with pytest.raises(CaseError) as info:
            call()
        assert (info.value.kind, info.value.message) == ("not_found", "This case does not exist.")
    assert table_counts(app, cases) == before


def test_resolving_labels_the_conversation_and_reopen_keeps_the_audit_label(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    cases.resolve(case, by=agent)
    assert cases.labels_for([desk.conversation]) == {desk.conversation: ["support-case-resolved"]}
    cases.reopen(case, by=agent)
    cases.resolve(case, by=agent)
    cases.reopen(case, by=agent)
    # The list shows the open case; the audit record keeps the resolution.
    assert cases.labels_for([desk.conversation]) == {desk.conversation: ["support-case"]}
    assert cases.service.labels_for([desk.conversation], audit=True) == {
        desk.conversation: ["support-case", "support-case-resolved"]
    }
    Label = cases.models.ConversationLabel
    rows = cases.state.db.session.scalars(sa.select(Label).order_by(Label.id)).all()
    assert [(r.name, r.case_id, r.created_by_id) for r in rows] == [
        ("support-case", case.id, desk.agent),
        ("support-case-resolved", case.id, desk.agent),
    ]
    assert all(r.created_at is not None for r in rows)


def test_labels_for_answers_a_page_in_one_query(app, cases, desk, ctx, host):
    agent = desk.user(desk.agent)
    db = host.db
    convs = [host.make_conversation(f"Question {i}", "support") for i in range(30)]
    db.session.add_all(convs)
    db.session.flush()
    msgs = [host.make_message(c, "help") for c in convs]
    db.session.add_all(msgs)
    db.session.commit()
    for i, (conv, msg) in enumerate(zip(convs, msgs, strict=True)):
        if i % 3 == 0:
            case = cases.create_case(conv, [msg], title=f"Case {i}", by=agent)
            if i % 2 == 0:
                cases.resolve(case, by=agent)
    keys = [host.key(c) for c in convs]
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        labels = cases.labels_for(keys)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert labels[keys[0]] == ["support-case-resolved"]
    assert labels[keys[3]] == ["support-case"]
    assert labels[keys[1]] == []
    assert len(labels) == 30
    statements.clear()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        stored = cases.service.labels_for(keys, audit=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert stored[keys[0]] == ["support-case", "support-case-resolved"]
    assert stored[keys[3]] == ["support-case"]
    assert stored[keys[1]] == []


def test_line_breaks_are_stored_as_newlines(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk, summary="Problem: locked out\r\nTried: reset\rNext: unlock\r\n")
    assert case.summary == "Problem: locked out\nTried: reset\nNext: unlock"
    cases.escalate(case, by=agent, reason="VIP\r\nsince 2019")
    assert case.escalation_reason == "VIP\nsince 2019"


@pytest.mark.parametrize("text", ["a\x00b", "broken \ud800 surrogate"])
def test_text_a_database_cannot_hold_is_refused(app, cases, desk, ctx, text):
    before = table_counts(app, cases)
    for field in ("title", "summary"):
        with pytest.raises(CaseError) as info:
            create(cases, desk, **{field: text})
        assert "cannot be stored" in info.value.errors[field][0]
    assert table_counts(app, cases) == before
