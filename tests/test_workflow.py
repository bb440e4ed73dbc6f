"""Working a case: an owner, changed fields, more messages, internal notes.

Each call is checked on SQLite and PostgreSQL for both host schemas: what it
writes (read back on a connection of its own), the one activity entry, the
signal after commit, the webhook body, and that every refusal writes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases import CaseError, signals
from flask_kroncases.enums import DEFAULT_WEBHOOK_EVENTS, NOTE_MAX_LENGTH, TITLE_MAX_LENGTH
from flask_kroncases.services.serialization import iso, json_key

from .conftest import Desk, classic_host_only, table_counts
from .test_service import create
from .test_signals import recording
from .test_webhooks import app_config, endpoint, receiver, start_worker, verify  # noqa: F401  (fixtures)


def counts(app: Any, cases: Any) -> dict[str, int]:
    """:func:`table_counts` and the notes and webhook outbox, on a connection of their own."""
    found = table_counts(app, cases)
    with app.app_context():
        models = cases.models
        with cases.state.db.engine.connect() as conn:
            for model in (models.CaseNote, models.WebhookDelivery):
                found[model.__tablename__] = conn.execute(
                    sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()
    return found


def stored(cases: Any, case_id: int) -> dict[str, Any]:
    """The case's row as committed, read on a connection of its own."""
    table = cases.models.Case.__table__
    with cases.state.db.engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.id == case_id)).mappings().one())


def missing_user(desk: Desk) -> Any:
    return 987654 if desk.host.__name__.endswith("classic") else "00000000-0000-4000-8000-000000000000"


def deliveries(cases: Any) -> list[Any]:
    Delivery = cases.models.WebhookDelivery
    cases.state.db.session.expire_all()
    return list(cases.state.db.session.scalars(sa.select(Delivery).order_by(Delivery.id)))


def refused(call: Any, kind: str) -> CaseError:
    with pytest.raises(CaseError) as info:
        call()
    assert info.value.kind == kind, info.value.to_dict()
    return info.value


# -- assign ------------------------------------------------------------------------------


def test_assign_to_a_user_to_a_key_and_to_nobody(app, cases, desk, ctx):
    agent, admin = desk.user(desk.agent), desk.user(desk.admin)
    case = create(cases, desk)
    before = counts(app, cases)

    assert cases.assign(case, agent, by=agent).assignee is agent
    assert stored(cases, case.id)["assignee_id"] == desk.agent
    assert cases.assign(case.id, str(desk.admin), by=agent).assignee is admin   # a key, as a URL or JSON gives it
    assert stored(cases, case.id)["assignee_id"] == desk.admin
    assert cases.assign(case, None, by=admin).assignee_id is None
    assert stored(cases, case.id)["assignee_id"] is None

    after = counts(app, cases)
    assert after["kroncases_activity"] == before["kroncases_activity"] + 3
    assert {k: v for k, v in after.items() if k != "kroncases_activity"} == {
        k: v for k, v in before.items() if k != "kroncases_activity"}
    entries = [e for e in cases.activity_for(desk.conversation) if e.kind == "assigned"]
    assert [(e.actor_id, e.from_status, e.to_status) for e in entries] == [
        (desk.agent, "open", "open"), (desk.agent, "open", "open"), (desk.admin, "open", "open")]
    assert [e.detail for e in entries] == [
        {"assignee_id": json_key(desk.agent), "assignee_name": "Alex Agent", "previous_id": None, "previous_name": None},
        {"assignee_id": json_key(desk.admin), "assignee_name": "Ada Admin",
         "previous_id": json_key(desk.agent), "previous_name": "Alex Agent"},
        {"assignee_id": None, "assignee_name": None, "previous_id": json_key(desk.admin), "previous_name": "Ada Admin"},
    ]


def test_assigning_the_same_owner_again_is_a_conflict(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    cases.assign(case, agent, by=agent)
    before = counts(app, cases)
    again = refused(lambda: cases.assign(case, desk.agent, by=agent), "conflict")
    assert again.http_status == 409
    assert again.errors["assignee"] == [f"Case #{case.id} is already assigned to Alex Agent."]
    cases.assign(case, None, by=agent)
    nobody = refused(lambda: cases.assign(case, None, by=agent), "conflict")
    assert nobody.errors["assignee"] == [f"Case #{case.id} has no owner already."]
    assert counts(app, cases)["kroncases_activity"] == before["kroncases_activity"] + 1


def test_an_unknown_user_is_invalid(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    before = counts(app, cases)
    for nobody in (missing_user(desk), "no-such-user", True, {"id": 1}, ["x"]):
        error = refused(lambda nobody=nobody: cases.assign(case, nobody, by=agent), "invalid")
        assert error.errors == {"assignee": ["There is no such agent."]}, nobody
    assert counts(app, cases) == before
    assert stored(cases, case.id)["assignee_id"] is None


def test_an_owner_who_may_not_see_the_conversation_is_refused_and_nothing_is_written(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    before = counts(app, cases)
    with recording("case_assigned") as received:
        error = refused(lambda: cases.assign(case, desk.outsider, by=agent), "invalid")
    assert error.errors["assignee"] == [
        f"Olga Outsider may not see this conversation, so cannot own Case #{case.id}."]
    assert received == []
    assert counts(app, cases) == before
    assert stored(cases, case.id)["assignee_id"] is None
    session = cases.state.db.session
    assert case.assignee_id is None and not session.new and not session.dirty


def test_a_working_call_by_someone_who_may_not_see_the_case_answers_like_a_missing_case(app, cases, desk, ctx):
    """assign, update, add_messages and add_note: not_found, the same words as for no case at all."""
    case = create(cases, desk)
    outsider = desk.user(desk.outsider)
    calls = {
        "assign": lambda c: cases.assign(c, desk.outsider, by=outsider),
        "update": lambda c: cases.update(c, by=outsider, title="Mine now"),
        "add_messages": lambda c: cases.add_messages(c, desk.msgs(desk.messages[2:3]), by=outsider),
        "add_note": lambda c: cases.add_note(c, "Peeking", by=outsider),
    }
    before = counts(app, cases)
    for name, call in calls.items():
        hidden = refused(lambda call=call: call(case), "not_found")
        missing = refused(lambda call=call: call(99999), "not_found")
        assert hidden.to_dict() == missing.to_dict() == {
            "error": "not_found", "message": "This case does not exist.", "errors": {}}, name
    assert counts(app, cases) == before


def test_case_assigned_is_sent_after_commit_with_the_previous_owner(app, cases, desk, ctx):
    agent, admin = desk.user(desk.agent), desk.user(desk.admin)
    case = create(cases, desk)
    seen: list[Any] = []

    def committed(sender: Any, case: Any, actor: Any, previous: Any) -> None:
        seen.append(stored(cases, case.id)["assignee_id"])

    signals.case_assigned.connect(committed)
    try:
        with recording("case_assigned") as received:
            cases.assign(case, agent, by=agent)
            cases.assign(case, admin, by=agent)
    finally:
        signals.case_assigned.disconnect(committed)
    assert seen == [desk.agent, desk.admin]
    assert [(sender, kw["case"].id, kw["actor"], kw["previous"]) for _, sender, kw in received] == [
        (app, case.id, agent, None), (app, case.id, agent, agent)]


def test_case_assigned_goes_only_to_endpoints_that_chose_it(app, cases, desk, receiver, ctx):  # noqa: F811
    four, _ = endpoint(cases, receiver.url + "/four")
    chose, secret = endpoint(cases, receiver.url + "/assigned", events=["case.assigned"])
    assert four.events == list(DEFAULT_WEBHOOK_EVENTS) == [
        "case.created", "case.resolved", "case.escalated", "case.reopened"]
    case = create(cases, desk)
    cases.assign(case, desk.user(desk.agent), by=desk.user(desk.admin))
    rows = deliveries(cases)
    assert [(r.endpoint_id, r.event_type) for r in rows] == [(four.id, "case.created"), (chose.id, "case.assigned")]

    assert cases.state.delivery.deliver(rows[1].id) == "delivered"
    [hit] = receiver.hits
    assert hit.path.endswith("/assigned")
    body = verify(hit, secret)
    assert body["type"] == "case.assigned"
    data = body["data"]
    assert data["case"]["assignee"] == {"id": json_key(desk.agent), "name": "Alex Agent"}
    assert data["case"]["due_at"] == iso(cases.get_case(case.id).due_at) and data["case"]["due_at"]
    assert data["case"]["url"] == f"https://help.example.com/kroncases/cases/{case.id}"
    assert data["actor"] == {"id": json_key(desk.admin), "name": "Ada Admin"}
    assert data["previous_assignee"] is None
    cases.assign(case, desk.user(desk.admin), by=desk.user(desk.admin))
    latest = json.loads(deliveries(cases)[-1].body)["data"]
    assert latest["previous_assignee"] == {"id": json_key(desk.agent), "name": "Alex Agent"}


def test_the_new_endpoint_form_ticks_only_the_four_default_events(app, cases, desk):
    with app.app_context():
        client = app.test_client(user=desk.user(desk.admin))
    html = client.get("/kroncases/settings/integrations/webhooks/new").get_data(as_text=True)
    for event in ("case.created", "case.resolved", "case.escalated", "case.reopened", "case.assigned", "case.overdue"):
        tag = next(t for t in html.split("<input")[1:] if f'value="{event}"' in t)
        assert ("checked" in tag.split(">")[0]) == (event in DEFAULT_WEBHOOK_EVENTS), event


# -- update --------------------------------------------------------------------------------


def test_update_changes_any_subset(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)   # access, high
    with recording("case_updated") as received:
        cases.update(case, by=agent, title="  Locked   out\tagain ")
        cases.update(case, by=agent, case_type="Technical")
        cases.update(case, by=agent, priority="URGENT")
        cases.update(case, by=agent, title="All three", case_type="billing", priority="low")
    row = stored(cases, case.id)
    assert (row["title"], row["case_type"], row["priority"]) == ("All three", "billing", "low")
    assert [kw["changes"] for _, _, kw in received] == [
        {"title": ("Login fails after password reset", "Locked out again")},
        {"case_type": ("access", "technical")},
        {"priority": ("high", "urgent")},
        {"title": ("Locked out again", "All three"), "case_type": ("technical", "billing"),
         "priority": ("urgent", "low")},
    ]
    assert all(kw["actor"] is agent and kw["case"].id == case.id for _, _, kw in received)
    entries = [e for e in cases.activity_for(desk.conversation) if e.kind == "updated"]
    assert [e.detail for e in entries] == [
        {"changes": {"title": ["Login fails after password reset", "Locked out again"]}},
        {"changes": {"case_type": ["access", "technical"]}},
        {"changes": {"priority": ["high", "urgent"]}},
        {"changes": {"title": ["Locked out again", "All three"], "case_type": ["technical", "billing"],
                     "priority": ["urgent", "low"]}},
    ]


UPDATE_BAD = {
    "blank title": ({"title": "   "}, "title", "Enter a title."),
    "empty title": ({"title": ""}, "title", "Enter a title."),
    "title not text": ({"title": 12}, "title", "Enter a title."),
    "title too long": ({"title": "x" * (TITLE_MAX_LENGTH + 1)}, "title",
                       f"Shorten the title to {TITLE_MAX_LENGTH} characters; it has {TITLE_MAX_LENGTH + 1}."),
    "title with NUL": ({"title": "a\x00b"}, "title", "cannot be stored"),
    "unknown type": ({"case_type": "sales"}, "case_type", "Choose one of General, Technical, Billing, Access."),
    "unknown priority": ({"priority": "critical"}, "priority", "Choose one of Low, Medium, High, Urgent."),
}


@pytest.mark.parametrize("name", sorted(UPDATE_BAD))
@classic_host_only
def test_update_validates_like_creation_and_writes_nothing(app, cases, desk, ctx, name):
    fields, field, text = UPDATE_BAD[name]
    case = create(cases, desk)
    before, row = counts(app, cases), stored(cases, case.id)
    with recording("case_updated") as received:
        params = {"priority": "low", **fields}   # a valid change beside it is not written either
        error = refused(lambda: cases.update(case, by=desk.user(desk.agent), **params), "invalid")
    assert text in " ".join(error.errors[field]) and set(error.errors) == {field}
    assert received == []
    assert counts(app, cases) == before and stored(cases, case.id) == row


def test_update_accepts_the_longest_title(app, cases, desk, ctx):
    case = create(cases, desk)
    assert cases.update(case, by=desk.user(desk.agent), title="a" * TITLE_MAX_LENGTH).title == "a" * TITLE_MAX_LENGTH


def test_update_without_a_change_is_refused(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    before = counts(app, cases)
    same = refused(lambda: cases.update(case, by=agent, title=" Login fails after  password reset",
                                        case_type="ACCESS", priority="high"), "conflict")
    assert same.http_status == 409 and same.message == f"Case #{case.id} already has these values."
    nothing = refused(lambda: cases.update(case, by=agent), "invalid")
    assert nothing.message == "Say what to change: a title, a case type or a priority."
    assert counts(app, cases) == before


# -- add_messages --------------------------------------------------------------------------


def test_add_messages_joins_them_and_the_indicators_follow(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    with recording("case_messages_added") as received:
        cases.add_messages(case, [desk.msgs(desk.messages[2:3])[0], str(desk.messages[3])], by=agent)
    cases.state.db.session.expire_all()
    case = cases.get_case(case.id)
    assert case.message_ids == desk.messages
    assert {k: c.id for k, c in cases.service.cases_for_messages(desk.messages).items()} == {
        k: case.id for k in desk.messages}
    assert [kw["messages"] for _, _, kw in received] == [desk.messages[2:]]
    [entry] = [e for e in cases.activity_for(desk.conversation) if e.kind == "messages_added"]
    assert entry.actor_id == desk.agent
    assert entry.detail == {"message_count": 2, "message_ids": [json_key(k) for k in desk.messages[2:]]}


def test_add_messages_refuses_what_creation_refuses(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk, message_keys=desk.messages[:1])
    other = create(cases, desk, message_keys=desk.messages[1:2], title="Other case")
    before = counts(app, cases)
    foreign = refused(lambda: cases.add_messages(case, [desk.messages[2], desk.other_messages[0]], by=agent),
                      "invalid")
    assert foreign.errors["messages"] == [f"Message {desk.other_messages[0]} is not in this conversation."]
    taken = refused(lambda: cases.add_messages(case, [desk.messages[1]], by=agent), "conflict")
    assert taken.errors["messages"] == [f"Message {desk.messages[1]} is already logged under Case #{other.id}."]
    mine = refused(lambda: cases.add_messages(case, [desk.messages[0]], by=agent), "conflict")
    assert mine.errors["messages"] == [f"Message {desk.messages[0]} is already logged under Case #{case.id}."]
    empty = refused(lambda: cases.add_messages(case, [], by=agent), "invalid")
    assert empty.errors["messages"] == ["Select at least one message."]
    assert counts(app, cases) == before


def test_add_messages_counts_the_messages_the_case_has(app, cases, desk, ctx):
    app.config["KRONCASES_MAX_MESSAGES_PER_CASE"] = 3
    agent = desk.user(desk.agent)
    case = create(cases, desk)   # two messages: room for one more
    before = counts(app, cases)
    error = refused(lambda: cases.add_messages(case, desk.messages[2:4], by=agent), "invalid")
    assert error.errors["messages"] == ["Select at most 3 messages for one case. This case has room for 1 more."]
    assert counts(app, cases) == before
    cases.add_messages(case, desk.messages[2:3], by=agent)
    full = refused(lambda: cases.add_messages(case, desk.messages[3:4], by=agent), "invalid")
    assert full.errors["messages"] == ["Select at most 3 messages for one case. This case has room for 0 more."]
    assert len(cases.get_case(case.id).message_ids) == 3


def test_a_resolved_case_takes_no_messages_until_reopened(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    cases.resolve(case, by=agent)
    before = counts(app, cases)
    error = refused(lambda: cases.add_messages(case, desk.messages[2:3], by=agent), "conflict")
    assert error.errors["messages"] == [f"Case #{case.id} is resolved; reopen it before adding messages."]
    assert counts(app, cases) == before
    cases.reopen(case, by=agent)
    assert cases.add_messages(case, desk.messages[2:3], by=agent).message_ids == desk.messages[:3]


def test_the_opening_text_can_join_a_case_later(database, app_config):  # noqa: F811
    from .test_opening_text import build

    for _, _, api, keys in build(database, **app_config):
        created = api.post(f"/conversations/{keys['ticket']}/cases",
                           json={"title": "Export broken", "message_ids": [str(keys["answer"])]})
        case_id = created.json["case"]["id"]
        added = api.post(f"/cases/{case_id}/messages", json={"message_ids": ["opening"]})
        assert added.status_code == 200, added.json
        assert added.json["case"]["message_ids"] == ["opening", keys["answer"]]
        again = api.post(f"/cases/{case_id}/messages", json={"message_ids": ["opening"]})
        assert again.status_code == 409
        assert again.json["errors"]["messages"] == [f"The opening message is already logged under Case #{case_id}."]
        fragments = api.client.get(f"/kroncases/conversations/{keys['ticket']}/fragments").json
        assert fragments["messages"]["opening"]["case_id"] == case_id


def more_messages(desk: Desk, *bodies: str) -> list[Any]:
    """New messages at the end of the desk's conversation."""
    host = desk.host
    messages = [host.make_message(desk.conv(desk.conversation), body) for body in bodies]
    host.db.session.add_all(messages)
    host.db.session.commit()
    return [host.key(m) for m in messages]


def _wait_for_summary(cases: Any, case_id: int, predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        summary = stored(cases, case_id)["summary"]
        if predicate(summary) or time.monotonic() > deadline:
            return summary
        time.sleep(0.1)


def offline_summary(cases: Any, case_id: int) -> str:
    """What the offline summarizer (the worker's) makes of the case's messages now."""
    case = cases.get_case(case_id)
    suggestion, _ = cases.state.summaries.suggest([link.message for link in case.message_links], offline_only=True)
    return suggestion.summary  # type: ignore[no-any-return]


def test_a_machine_written_summary_is_rewritten_after_new_messages_an_agents_is_kept(
    app, cases, desk, start_worker, ctx  # noqa: F811
):
    agent = desk.user(desk.agent)
    conversation = desk.conv(desk.conversation)
    queue = cases.state.jobs.rq_queue()
    by_agent = cases.create_case(conversation, desk.msgs(desk.messages[:1]), title="Agent's words",
                                 summary="Typed by the agent.", by=agent)
    suggested = cases.create_case(conversation, desk.msgs(desk.messages[1:2]), title="Suggested words",
                                  summary="As suggested.", summary_is_suggestion=True, by=agent)
    machine = cases.create_case(conversation, desk.msgs(desk.messages[2:3]), title="Machine words", by=agent)
    assert queue.count == 1   # only the case saved without a summary has a job
    start_worker()
    first = _wait_for_summary(cases, machine.id, lambda s: s is not None)
    assert first == offline_summary(cases, machine.id)
    extra = more_messages(desk, "The invoice address is wrong as well.", "My phone number changed too.",
                          "Please also update my shipping address.")

    cases.add_messages(by_agent, extra[:1], by=agent)
    cases.add_messages(suggested, extra[1:2], by=agent)
    cases.add_messages(machine, extra[2:3], by=agent)
    expected = {case.id: offline_summary(cases, case.id) for case in (suggested, machine)}
    assert "phone" in expected[suggested.id] and expected[machine.id] != first
    for case_id, summary in expected.items():
        assert _wait_for_summary(cases, case_id, lambda s, summary=summary: s == summary) == summary
    assert stored(cases, by_agent.id)["summary"] == "Typed by the agent."
    assert (stored(cases, by_agent.id)["summary_by_agent"], stored(cases, suggested.id)["summary_by_agent"],
            stored(cases, machine.id)["summary_by_agent"]) == (True, False, False)
    rewrites = [e.case_id for e in cases.activity_for(desk.conversation) if e.kind == "summary_updated"]
    assert sorted(rewrites) == sorted([machine.id, machine.id, suggested.id])   # none for the agent's case


# -- add_note ------------------------------------------------------------------------------


def test_add_note_trims_and_records_it(app, cases, desk, ctx):
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    before = counts(app, cases)
    with recording("case_note_added") as received:
        note = cases.add_note(case, "  Called the customer back.\r\nWaiting for the logs.\n ", by=agent)
    assert note.id is not None and note.body == "Called the customer back.\nWaiting for the logs."
    assert note.author_id == desk.agent and note.case_id == case.id
    [(_, sender, kw)] = received
    assert sender is app and kw["note"] is note and kw["actor"] is agent and kw["case"].id == case.id
    after = counts(app, cases)
    assert after["kroncases_case_notes"] == before["kroncases_case_notes"] + 1
    assert after["kroncases_activity"] == before["kroncases_activity"] + 1
    [entry] = [e for e in cases.activity_for(desk.conversation) if e.kind == "note_added"]
    assert entry.detail == {"length": len(note.body), "note_id": note.id}
    assert [n.id for n in cases.get_case(case.id).notes] == [note.id]


def test_a_note_holds_1_to_5000_characters_after_trimming(app, cases, desk, ctx):
    assert NOTE_MAX_LENGTH == 5000
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    before = counts(app, cases)
    with recording("case_note_added") as received:
        for text in ("", "  \r\n\t ", "x" * 5001, " " + "x" * 5001 + " ", None, 42, "a\x00b"):
            error = refused(lambda text=text: cases.add_note(case, text, by=agent), "invalid")
            assert set(error.errors) == {"note"}, text
    assert received == []
    assert counts(app, cases) == before
    assert cases.add_note(case, "  " + "y" * 5000 + "  ", by=agent).body == "y" * 5000
    assert cases.add_note(case, "z", by=agent).body == "z"


def test_notes_never_reach_a_webhook_body(app, cases, desk, receiver, ctx):  # noqa: F811
    from flask_kroncases.enums import WEBHOOK_EVENTS

    _, secret = endpoint(cases, receiver.url, events=list(WEBHOOK_EVENTS))
    agent = desk.user(desk.agent)
    case = create(cases, desk)
    secret_text = "Customer's VIP PIN is 4711-NOTE"
    cases.add_note(case, secret_text, by=agent)
    cases.assign(case, agent, by=agent)
    cases.update(case, by=agent, priority="urgent")
    cases.escalate(case, by=agent, reason="Still locked out")
    cases.resolve(case, by=agent)
    cases.reopen(case, by=agent)
    rows = deliveries(cases)
    assert [r.event_type for r in rows] == [
        "case.created", "case.assigned", "case.escalated", "case.resolved", "case.reopened"]
    for row in rows:
        assert cases.state.delivery.deliver(row.id) == "delivered"
    assert len(receiver.hits) == len(rows)
    for hit in receiver.hits:
        body = verify(hit, secret)
        assert "4711" not in hit.body.decode() and "VIP PIN" not in json.dumps(body)
        assert "notes" not in body["data"]["case"] and "note" not in body["data"]
