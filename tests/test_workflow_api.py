"""The JSON API of working a case: assign, change, add messages, notes, the overdue list.

Each route: its success shape, 400 with per-field errors, 404 for what the
agent may not see (the same bytes as for what does not exist), 409 for
conflicts, CSRF on every change, 401 signed out.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from flask_kroncases.enums import TITLE_MAX_LENGTH
from flask_kroncases.models import as_utc, utcnow
from flask_kroncases.services.serialization import iso, json_key

from .conftest import Desk
from .test_api import payload, same_answer
from .test_due_times import set_rows
from .test_workflow import counts

MISSING = 99999


def new_case(api: Any, desk: Desk, **overrides: Any) -> dict[str, Any]:
    response = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, **overrides))
    assert response.status_code == 201, response.json
    return response.json["case"]  # type: ignore[no-any-return]


def patch(api: Any, path: str, json: Any, csrf: bool = True) -> Any:
    headers = {"X-CSRFToken": api.token} if csrf else {}
    return api.client.patch(api.prefix + path, json=json, headers=headers)


def changes(api: Any) -> dict[str, Any]:
    """Every changing request of this module, for a case id: (method, path, body)."""
    return {
        "assign": lambda case_id, body=None: api.post(f"/cases/{case_id}/assign", json=body or {"assignee": "me"}),
        "update": lambda case_id, body=None: patch(api, f"/cases/{case_id}", body or {"title": "New title"}),
        "messages": lambda case_id, body=None: api.post(f"/cases/{case_id}/messages", json=body or {"message_ids": []}),
        "note": lambda case_id, body=None: api.post(f"/cases/{case_id}/notes", json=body or {"text": "A note"}),
    }


def test_assign_me_a_key_and_nobody(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case = new_case(api, desk)
    assert case["assignee"] is None
    mine = api.post(f"/cases/{case['id']}/assign", json={"assignee": "me"})
    assert mine.status_code == 200
    assert mine.json["case"]["assignee"] == {"id": json_key(desk.agent), "name": "Alex Agent"}
    assert mine.json["case"]["url"] == f"/kroncases/cases/{case['id']}"
    admins = api.post(f"/cases/{case['id']}/assign", json={"assignee": json_key(desk.admin)})
    assert admins.json["case"]["assignee"] == {"id": json_key(desk.admin), "name": "Ada Admin"}
    by_text = api.post(f"/cases/{case['id']}/assign", json={"assignee": str(desk.agent)})
    assert by_text.json["case"]["assignee"]["id"] == json_key(desk.agent)
    nobody = api.post(f"/cases/{case['id']}/assign", json={"assignee": None})
    assert nobody.status_code == 200 and nobody.json["case"]["assignee"] is None
    assert api.get(f"/cases/{case['id']}").json["case"]["assignee"] is None


def test_assign_refusals(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case_id = new_case(api, desk)["id"]
    api.post(f"/cases/{case_id}/assign", json={"assignee": "me"})
    before = counts(app, cases)
    again = api.post(f"/cases/{case_id}/assign", json={"assignee": "me"})
    assert again.status_code == 409 and again.json["error"] == "conflict"
    assert again.json["errors"]["assignee"] == [f"Case #{case_id} is already assigned to Alex Agent."]
    for body in ({}, {"assignee": "no-such-agent"}, {"assignee": 987654}, {"assignee": [1]}, {"assignee": True}):
        response = api.post(f"/cases/{case_id}/assign", json=body)
        assert response.status_code == 400 and response.json["error"] == "invalid", body
        assert response.json["errors"]["assignee"], body
    blind = api.post(f"/cases/{case_id}/assign", json={"assignee": json_key(desk.outsider)})
    assert blind.status_code == 400
    assert blind.json["errors"]["assignee"] == [
        f"Olga Outsider may not see this conversation, so cannot own Case #{case_id}."]
    assert counts(app, cases) == before
    assert api.get(f"/cases/{case_id}").json["case"]["assignee"]["id"] == json_key(desk.agent)


def test_patch_changes_what_it_is_given(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case = new_case(api, desk, priority="medium")
    titled = patch(api, f"/cases/{case['id']}", {"title": "  Locked   out  "})
    assert titled.status_code == 200
    assert (titled.json["case"]["title"], titled.json["case"]["priority"]) == ("Locked out", "medium")
    urgent = patch(api, f"/cases/{case['id']}", {"priority": "urgent", "case_type": "technical"})
    assert (urgent.json["case"]["priority"], urgent.json["case"]["case_type"]) == ("urgent", "technical")
    with app.app_context():
        started = as_utc(cases.get_case(case["id"]).clock_started_at)
    assert urgent.json["case"]["due_at"] == iso(started + timedelta(hours=4))
    assert case["due_at"] == iso(started + timedelta(days=3))


def test_patch_refusals(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case = new_case(api, desk)
    before = counts(app, cases)
    bad = patch(api, f"/cases/{case['id']}", {"title": "t" * (TITLE_MAX_LENGTH + 1), "priority": "critical",
                                               "case_type": "sales"})
    assert bad.status_code == 400 and bad.json["error"] == "invalid"
    assert set(bad.json["errors"]) == {"title", "priority", "case_type"}
    assert patch(api, f"/cases/{case['id']}", {"title": "   "}).json["errors"] == {"title": ["Enter a title."]}
    nothing = patch(api, f"/cases/{case['id']}", {})
    assert nothing.status_code == 400 and nothing.json["message"] == "Say what to change: a title, a case type or a priority."
    assert patch(api, f"/cases/{case['id']}", [1]).status_code == 400
    same = patch(api, f"/cases/{case['id']}", {"title": case["title"], "priority": case["priority"]})
    assert same.status_code == 409 and same.json["error"] == "conflict"
    assert counts(app, cases) == before
    assert api.get(f"/cases/{case['id']}").json["case"] == case


def test_add_messages_route(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case = new_case(api, desk)
    other = new_case(api, desk, message_ids=[str(desk.messages[3])], title="Other")
    added = api.post(f"/cases/{case['id']}/messages", json={"message_ids": [str(desk.messages[2])]})
    assert added.status_code == 200 and added.json["case"]["message_ids"] == desk.messages[:3]
    before = counts(app, cases)
    foreign = api.post(f"/cases/{case['id']}/messages", json={"message_ids": [str(desk.other_messages[0])]})
    assert foreign.status_code == 400
    assert foreign.json["errors"]["messages"] == [f"Message {desk.other_messages[0]} is not in this conversation."]
    for body in ({}, {"message_ids": "1,2"}, {"message_ids": []}):
        response = api.post(f"/cases/{case['id']}/messages", json=body)
        assert response.status_code == 400 and response.json["errors"]["messages"], body
    taken = api.post(f"/cases/{case['id']}/messages", json={"message_ids": [str(desk.messages[3])]})
    assert taken.status_code == 409
    assert taken.json["errors"]["messages"] == [f"Message {desk.messages[3]} is already logged under Case #{other['id']}."]
    api.post(f"/cases/{other['id']}/resolve")
    before = counts(app, cases)
    closed = api.post(f"/cases/{other['id']}/messages", json={"message_ids": [str(desk.messages[2])]})
    assert closed.status_code == 409 and "reopen it before adding messages" in closed.json["message"]
    assert counts(app, cases) == before


def test_notes_routes(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case_id = new_case(api, desk)["id"]
    assert api.get(f"/cases/{case_id}/notes").json == {"notes": []}
    created = api.post(f"/cases/{case_id}/notes", json={"text": "  Called back, <b>waiting</b> for logs. "})
    assert created.status_code == 201
    note = created.json["note"]
    assert note["text"] == "Called back, <b>waiting</b> for logs."
    assert b"<b>" not in created.get_data()   # escaped in the JSON text, as every reply is
    assert note["case_id"] == case_id and note["author"] == {"id": json_key(desk.agent), "name": "Alex Agent"}
    assert note["id"] and note["created_at"]
    second = api.post(f"/cases/{case_id}/notes", json={"text": "x" * 5000}).json["note"]
    assert [n["id"] for n in api.get(f"/cases/{case_id}/notes").json["notes"]] == [note["id"], second["id"]]
    before = counts(app, cases)
    for body in ({"text": ""}, {"text": " \n "}, {"text": "x" * 5001}, {}, {"text": 5}):
        response = api.post(f"/cases/{case_id}/notes", json=body)
        assert response.status_code == 400 and response.json["errors"]["note"], body
    assert counts(app, cases) == before
    assert "note" not in api.get(f"/cases/{case_id}").json["case"]


def test_what_the_agent_may_not_see_answers_404_like_what_does_not_exist(app, cases, desk, api_as):
    case_id = new_case(api_as(desk.agent), desk)["id"]
    outsider = api_as(desk.outsider)
    before = counts(app, cases)
    for name, call in changes(outsider).items():
        same_answer(call(case_id), call(MISSING))
        same_answer(call(case_id), call("not-a-case"))
        assert call(case_id).json["message"] == "This case does not exist.", name
    same_answer(outsider.get(f"/cases/{case_id}/notes"), outsider.get(f"/cases/{MISSING}/notes"))
    assert counts(app, cases) == before


def test_every_change_needs_the_csrf_token_and_every_route_a_signed_in_user(app, cases, desk, api_as):
    api = api_as(desk.agent)
    case_id = new_case(api, desk)["id"]
    before = counts(app, cases)
    bodies = {"assign": {"assignee": "me"}, "update": {"title": "New"}, "messages": {"message_ids": [str(desk.messages[2])]},
              "note": {"text": "A note"}}
    paths = {"assign": ("post", f"/cases/{case_id}/assign"), "update": ("patch", f"/cases/{case_id}"),
             "messages": ("post", f"/cases/{case_id}/messages"), "note": ("post", f"/cases/{case_id}/notes")}
    for name, (method, path) in paths.items():
        missing = getattr(api.client, method)("/kroncases/api" + path, json=bodies[name])
        forged = getattr(api.client, method)("/kroncases/api" + path, json=bodies[name], headers={"X-CSRFToken": "forged"})
        assert missing.status_code == forged.status_code == 400, name
        assert missing.json["error"] == forged.json["error"] == "csrf", name
    assert counts(app, cases) == before

    anonymous = app.test_client()
    for name, (method, path) in paths.items():
        response = getattr(anonymous, method)("/kroncases/api" + path, json=bodies[name])
        assert response.status_code == 401 and response.json["error"] == "unauthorized", name
    for path in (f"/cases/{case_id}/notes", "/cases/overdue", "/cases/overdue?page=2"):
        assert anonymous.get("/kroncases/api" + path).status_code == 401, path
    assert counts(app, cases) == before


def test_overdue_route_pages_what_the_agent_may_see(app, cases, desk, api_as):
    agent = api_as(desk.agent)
    mine = new_case(agent, desk, message_ids=[str(desk.messages[0])], title="Mine")
    other = agent.post(f"/conversations/{desk.other_conversation}/cases",
                       json=payload(desk, message_ids=[str(desk.other_messages[0])], title="Other")).json["case"]
    hidden = api_as(desk.admin).post(f"/conversations/{desk.hidden_conversation}/cases",
                                     json=payload(desk, message_ids=[str(desk.hidden_messages[0])],
                                                  title="Hidden")).json["case"]
    new_case(agent, desk, message_ids=[str(desk.messages[1])], title="Not due yet")
    assert agent.get("/cases/overdue").json == {"cases": [], "page": 1, "per_page": 25, "total": 0}
    now = utcnow()
    with app.app_context():
        for case, hours in ((hidden, 3), (mine, 2), (other, 1)):
            set_rows(cases, case["id"], due_at=now - timedelta(hours=hours))
    app.config["KRONCASES_PER_PAGE"] = 1
    first = agent.get("/cases/overdue")
    assert first.status_code == 200
    assert (first.json["page"], first.json["per_page"], first.json["total"]) == (1, 1, 2)
    assert [c["id"] for c in first.json["cases"]] == [mine["id"]]
    assert first.json["cases"][0]["due_at"] == iso(now - timedelta(hours=2))
    assert [c["id"] for c in agent.get("/cases/overdue?page=2").json["cases"]] == [other["id"]]
    assert agent.get("/cases/overdue?page=3").json["cases"] == []
    for nonsense in ("nonsense", "-4", "0", "", "%00", "１２", "99999999999999999999", "9" * 400):
        response = agent.get(f"/cases/overdue?page={nonsense}")   # never a 500: past the integers is page 1
        assert response.status_code == 200 and response.json["page"] == 1, nonsense
        assert [c["id"] for c in response.json["cases"]] == [mine["id"]], nonsense
    assert agent.get("/cases/overdue?page=999999999").json["cases"] == []
    outsider = api_as(desk.outsider).get("/cases/overdue").json
    assert [c["id"] for c in outsider["cases"]] == [hidden["id"]] and outsider["total"] == 1
    app.config["KRONCASES_PER_PAGE"] = 10
    assert [c["id"] for c in api_as(desk.admin).get("/cases/overdue").json["cases"]] == [
        hidden["id"], mine["id"], other["id"]]


def test_each_new_route_asks_the_host_at_most_once(app, cases, desk, api_as):
    """The rule of tests/test_authorize_once.py for this module's routes: views never check first."""
    counted: Counter[Any] = Counter()
    original = cases.hooks.conversation_access

    def counting(user: Any, conversation: Any) -> bool:
        counted[cases.models.host.conversation.key_of(conversation)] += 1
        return bool(original(user, conversation))

    api = api_as(desk.agent)
    case_id = new_case(api, desk)["id"]
    cases.hooks.conversation_access = counting
    try:
        for label, response, status in [
            ("assign", lambda: api.post(f"/cases/{case_id}/assign", json={"assignee": "me"}), 200),
            ("assign someone", lambda: api.post(f"/cases/{case_id}/assign", json={"assignee": json_key(desk.admin)}), 200),
            ("refused owner", lambda: api.post(f"/cases/{case_id}/assign", json={"assignee": json_key(desk.outsider)}), 400),
            ("update", lambda: patch(api, f"/cases/{case_id}", {"priority": "low"}), 200),
            ("messages", lambda: api.post(f"/cases/{case_id}/messages", json={"message_ids": [str(desk.messages[2])]}), 200),
            ("note", lambda: api.post(f"/cases/{case_id}/notes", json={"text": "n"}), 201),
            ("notes", lambda: api.get(f"/cases/{case_id}/notes"), 200),
        ]:
            got = response()
            assert got.status_code == status, (label, got.json)
            # One question about the case's conversation; a new owner is asked about once more.
            expected = {desk.conversation: 2 if label in ("assign someone", "refused owner") else 1}
            assert dict(counted) == expected, (label, dict(counted))
            counted.clear()
    finally:
        cases.hooks.conversation_access = original

