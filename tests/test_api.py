"""The JSON API: sign-in, CSRF, authorization and JSON errors with field messages."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import table_counts


def payload(desk: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "title": "Locked out after password reset",
        "case_type": "access",
        "priority": "high",
        "summary": "Login fails with 'Invalid credentials', then the account is locked.",
        "message_ids": [str(k) for k in desk.messages[:2]],
    }
    data.update(overrides)
    return data


def test_create_get_list_and_move_a_case(app, desk, api_as):
    api = api_as(desk.agent)
    created = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk))
    assert created.status_code == 201, created.json
    case = created.json["case"]
    assert case["status"] == "open" and case["title"] == "Locked out after password reset"
    assert case["message_ids"] == desk.messages[:2]
    assert case["conversation_url"] == f"/conversations/{desk.conversation}"

    assert api.get(f"/cases/{case['id']}").json["case"]["id"] == case["id"]
    assert [c["id"] for c in api.get(f"/conversations/{desk.conversation}/cases").json["cases"]] == [case["id"]]

    moved = api.post(f"/cases/{case['id']}/status", json={"status": "pending"})
    assert moved.status_code == 200 and moved.json["case"]["status"] == "pending"
    escalated = api.post(f"/cases/{case['id']}/escalate", json={"reason": "Customer cannot work"})
    assert escalated.json["case"]["escalation_level"] == 1
    assert escalated.json["case"]["escalation_reason"] == "Customer cannot work"
    assert api.post(f"/cases/{case['id']}/resolve").json["case"]["status"] == "resolved"
    assert api.post(f"/cases/{case['id']}/reopen").json["case"]["status"] == "open"


BAD = {
    "81-char title": ({"title": "t" * 81}, 400, "title"),
    "unknown priority": ({"priority": "critical"}, 400, "priority"),
    "unknown type": ({"case_type": 7}, 400, "case_type"),
    "empty selection": ({"message_ids": []}, 400, "messages"),
    "message ids not a list": ({"message_ids": "1,2"}, 400, "messages"),
    "garbage message id": ({"message_ids": ["<script>"]}, 400, "messages"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_create_input_is_a_json_error_and_writes_nothing(app, cases, desk, api_as, name):
    overrides, status, field = BAD[name]
    api = api_as(desk.agent)
    before = table_counts(app, cases)
    response = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, **overrides))
    assert response.status_code == status
    assert response.json["error"] == "invalid" and response.json["errors"][field]
    assert response.json["message"]
    assert table_counts(app, cases) == before


def test_message_of_another_conversation_and_reused_message(app, cases, desk, api_as):
    api = api_as(desk.agent)
    foreign = api.post(
        f"/conversations/{desk.conversation}/cases",
        json=payload(desk, message_ids=[str(desk.messages[0]), str(desk.other_messages[0])]),
    )
    assert foreign.status_code == 400
    # The same words as for a message that does not exist: a refusal tells nothing of other conversations.
    assert foreign.json["errors"]["messages"] == [f"Message {desk.other_messages[0]} is not in this conversation."]
    first = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk))
    before = table_counts(app, cases)
    again = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk))
    assert again.status_code == 409
    assert f"already logged under Case #{first.json['case']['id']}" in again.json["errors"]["messages"][0]
    assert table_counts(app, cases) == before


def test_body_that_is_not_a_json_object(app, desk, api_as):
    api = api_as(desk.agent)
    for body in ([1, 2], "title", None):
        response = api.post(f"/conversations/{desk.conversation}/cases", json=body)
        assert response.status_code == 400
        assert response.json["message"] == "Send a JSON object as the request body."


def same_answer(seen: Any, missing: Any) -> None:
    """What the agent may not see answers exactly like what does not exist."""
    assert seen.status_code == missing.status_code == 404
    assert seen.get_data() == missing.get_data()


def test_conversation_the_user_may_not_see(app, cases, desk, api_as, host):
    api = api_as(desk.outsider)
    missing = 987654 if host.__name__.endswith("classic") else "00000000-0000-4000-8000-000000000000"
    before = table_counts(app, cases)
    same_answer(api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk)),
                api.post(f"/conversations/{missing}/cases", json=payload(desk)))
    same_answer(api.get(f"/conversations/{desk.conversation}/cases"), api.get(f"/conversations/{missing}/cases"))
    assert table_counts(app, cases) == before


def test_case_routes_of_a_conversation_the_user_may_not_see(app, cases, desk, api_as):
    case_id = api_as(desk.agent).post(f"/conversations/{desk.conversation}/cases", json=payload(desk)).json["case"]["id"]
    outsider = api_as(desk.outsider)
    before = table_counts(app, cases)
    same_answer(outsider.get(f"/cases/{case_id}"), outsider.get("/cases/99999"))
    for path, body in [("status", {"status": "pending"}), ("resolve", None), ("reopen", None),
                       ("escalate", {"reason": "x"}), ("summary", None)]:
        same_answer(outsider.post(f"/cases/{case_id}/{path}", json=body), outsider.post(f"/cases/99999/{path}", json=body))
    assert table_counts(app, cases) == before


def test_not_found(app, desk, api_as):
    api = api_as(desk.agent)
    assert api.get("/cases/99999").status_code == 404
    assert api.post("/cases/99999/resolve").json["error"] == "not_found"
    assert api.get("/conversations/does-not-exist/cases").status_code == 404
    assert api.post("/conversations/12345678901234567890/cases", json=payload(desk)).status_code == 404


def test_illegal_move_is_409(app, desk, api_as):
    api = api_as(desk.agent)
    case_id = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk)).json["case"]["id"]
    response = api.post(f"/cases/{case_id}/reopen")
    assert response.status_code == 409
    assert "Only a resolved case can be reopened" in response.json["message"]
    assert api.post(f"/cases/{case_id}/status", json={"status": "archived"}).status_code == 400


def test_sign_in_required(app, desk):
    client = app.test_client()
    assert client.get(f"/kroncases/api/conversations/{desk.conversation}/cases").status_code == 401
    response = client.post(f"/kroncases/api/conversations/{desk.conversation}/cases", json=payload(desk))
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_changes_without_csrf_token_are_refused(app, cases, desk, api_as):
    api = api_as(desk.agent)
    before = table_counts(app, cases)
    missing = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk), csrf=False)
    assert missing.status_code == 400 and missing.json["error"] == "csrf"
    forged = api.client.post(
        f"/kroncases/api/conversations/{desk.conversation}/cases",
        json=payload(desk), headers={"X-CSRFToken": "forged"},
    )
    assert forged.status_code == 400 and forged.json["error"] == "csrf"
    assert table_counts(app, cases) == before
