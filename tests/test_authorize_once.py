"""Authorize once: the host's ``conversation_access`` hook runs at most once per request.

Views do not check before the service does; every route of the JSON API and
the agent pages is counted here. A route over several conversations (the cases
page) asks at most once per conversation.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .conftest import Desk

API = "/kroncases/api"


@pytest.fixture
def calls(cases: Any) -> Counter[Any]:
    """Counts the hook's calls per conversation key; reset by the test between requests."""
    counted: Counter[Any] = Counter()
    original = cases.hooks.conversation_access

    def counting(user: Any, conversation: Any) -> bool:
        counted[cases.models.host.conversation.key_of(conversation)] += 1
        return bool(original(user, conversation))

    cases.hooks.conversation_access = counting
    yield counted
    cases.hooks.conversation_access = original


def test_each_route_asks_the_host_at_most_once(app, cases, desk: Desk, api_as, calls):
    api = api_as(desk.agent)
    conv = desk.conversation
    headers = {"X-CSRFToken": api.token}
    client = api.client
    ids = [str(k) for k in desk.messages[:2]]

    def once(label: str, response: Any, expected: int) -> Any:
        assert response.status_code == expected, (label, response.status_code, response.get_data()[:300])
        assert sum(calls.values()) == 1, (label, dict(calls))
        calls.clear()
        return response

    case = once("create", api.post(f"/conversations/{conv}/cases", json={"title": "t", "message_ids": ids}),
                201).json["case"]
    case_id = case["id"]
    once("list", api.get(f"/conversations/{conv}/cases"), 200)
    once("get", api.get(f"/cases/{case_id}"), 200)
    once("status", api.post(f"/cases/{case_id}/status", json={"status": "pending"}), 200)
    once("escalate", api.post(f"/cases/{case_id}/escalate", json={"reason": "VIP"}), 200)
    once("resolve", api.post(f"/cases/{case_id}/resolve"), 200)
    once("reopen", api.post(f"/cases/{case_id}/reopen"), 200)
    once("summary", api.post(f"/cases/{case_id}/summary"), 202)
    suggestion = once("suggest", api.post(f"/conversations/{conv}/suggestions",
                                          json={"message_ids": [str(desk.messages[2])]}), 202).json["suggestion"]
    once("suggestion", api.get(f"/suggestions/{suggestion['id']}"), 200)
    once("fragments", client.get(f"/kroncases/conversations/{conv}/fragments"), 200)
    form = {"csrf_token": api.token, "title": "Form case", "case_type": "general", "priority": "low",
            "message_ids": str(desk.messages[3])}
    once("case form", client.post(f"/kroncases/conversations/{conv}/case-form", data=form,
                                  headers={"Accept": "application/json", **headers}), 201)
    # Refusals ask once too.
    once("refused form", client.post(f"/kroncases/conversations/{conv}/case-form",
                                     data={**form, "title": ""}, headers={"Accept": "application/json"}), 400)
    once("taken message", api.post(f"/conversations/{conv}/cases", json={"title": "t", "message_ids": ids}), 409)


def test_the_cases_page_asks_once_per_conversation(app, cases, desk: Desk, api_as, calls):
    api = api_as(desk.agent)
    api.post(f"/conversations/{desk.conversation}/cases", json={"title": "a", "message_ids": [str(desk.messages[0])]})
    api.post(f"/conversations/{desk.other_conversation}/cases",
             json={"title": "b", "message_ids": [str(desk.other_messages[0])]})
    calls.clear()
    page = api.client.get("/kroncases/cases")
    assert page.status_code == 200
    assert calls and max(calls.values()) == 1, dict(calls)
