"""Hostile input: huge id lists and bodies, odd digits, deep JSON, wrong routes, CSRF settings.

Every answer is a clear 4xx in the extension's own format, never a 500, never
another record than the one asked for; each runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from flask_kroncases import KronCases

from .conftest import Desk, table_counts
from .support.databases import statements

API = "/kroncases/api"
FORM = "/kroncases/conversations/{}/case-form"
#: Ids no route may take for a record: not ASCII digits, NUL, out of range.
BAD_IDS = ["²", "１", "１４", "%00", "2147483648", "99999999999999999999", "-1", "1%00"]


def payload(desk: Desk, **overrides: Any) -> dict[str, Any]:
    return {"title": "Login fails", "message_ids": [str(k) for k in desk.messages[:2]], **overrides}




def message_table(app: Flask, cases: KronCases) -> str:
    with app.app_context():
        return str(cases.models.host.message.table.name)


def test_too_many_ids_are_refused_before_any_query(app, cases, desk, api_as):
    api = api_as(desk.agent)
    table = message_table(app, cases)
    before = table_counts(app, cases)
    for ids in ([1] * 200_000, [str(i) for i in range(501)]):
        with statements(app, cases) as seen:
            started = time.perf_counter()
            response = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, message_ids=ids))
            elapsed = time.perf_counter() - started
        assert response.status_code == 400
        assert response.json["errors"]["messages"] == ["Select at most 500 messages for one case."]
        assert not [s for s in seen if table in s], "the message table was queried"
        assert elapsed < 5, elapsed  # quadratic de-duplication took minutes; the benchmark has the real figure
        suggest = api.post(f"/conversations/{desk.conversation}/suggestions", json={"message_ids": ids})
        assert suggest.status_code == 400
    assert table_counts(app, cases) == before


def test_duplicates_are_removed_keeping_the_order(app, cases, desk, api_as):
    ids = [str(desk.messages[1])] * 300 + [str(desk.messages[0])] * 199
    response = api_as(desk.agent).post(f"/conversations/{desk.conversation}/cases", json=payload(desk, message_ids=ids))
    assert response.status_code == 201
    assert response.json["case"]["message_ids"] == [desk.messages[1], desk.messages[0]]


def test_error_replies_are_bounded(app, cases, desk, api_as):
    ids = [f"not-a-key-{i}" * 10 for i in range(500)]
    response = api_as(desk.agent).post(f"/conversations/{desk.conversation}/cases",
                                       json=payload(desk, message_ids=ids, title="x" * 50_000))
    assert response.status_code == 400
    assert len(response.get_data()) < 8_000
    assert response.json["errors"]["messages"][-1] == "… and 490 more."


@pytest.mark.parametrize("host_limit", [None, 4096])
def test_a_body_over_the_limit_gets_413(app, cases, desk, api_as, host_limit):
    app.config["MAX_CONTENT_LENGTH"] = host_limit
    limit = host_limit or app.config["KRONCASES_MAX_BODY_BYTES"]
    api = api_as(desk.agent)
    big = payload(desk, summary="s" * limit)
    response = api.post(f"/conversations/{desk.conversation}/cases", json=big)
    assert response.status_code == 413 and response.json["error"] == "too_large"
    small = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, summary="s" * 1000))
    assert small.status_code == 201
    form = api.client.post(FORM.format(desk.conversation), headers={"Accept": "application/json"},
                           data={"csrf_token": api.token, "title": "t", "summary": "s" * limit,
                                 "message_ids": str(desk.messages[2])})
    assert form.status_code == 413


def test_deeply_nested_json_is_a_400(app, cases, desk, api_as):
    api = api_as(desk.agent)
    for body in ("[" * 50_000, '{"a":' * 50_000, "{" + "]" * 10, "\x00"):
        response = api.client.post(f"{API}/conversations/{desk.conversation}/cases", data=body,
                                   headers={"X-CSRFToken": api.token, "Content-Type": "application/json"})
        assert response.status_code == 400, body[:10]
        assert response.json["message"] == "Send a JSON object as the request body."


def test_only_ascii_digits_make_an_id(app, cases, desk, api_as, host):
    api = api_as(desk.agent)
    client, headers = api.client, {"X-CSRFToken": api.token}
    case = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk)).json["case"]
    for bad in BAD_IDS:
        answers = [
            client.get(f"{API}/cases/{bad}"),
            client.post(f"{API}/cases/{bad}/resolve", headers=headers),
            client.post(f"{API}/cases/{bad}/reopen", headers=headers),
            client.post(f"{API}/cases/{bad}/summary", headers=headers),
            client.post(f"{API}/cases/{bad}/status", json={"status": "pending"}, headers=headers),
            client.post(f"{API}/cases/{bad}/escalate", json={"reason": "x"}, headers=headers),
            client.get(f"{API}/conversations/{bad}/cases"),
            client.post(f"{API}/conversations/{bad}/cases", json=payload(desk), headers=headers),
            client.post(f"{API}/conversations/{bad}/suggestions", json={"message_ids": [1]}, headers=headers),
            client.get(f"{API}/suggestions/{bad}"),
            client.get(f"/kroncases/conversations/{bad}/fragments"),
            client.post(FORM.format(bad), data={"csrf_token": api.token, "title": "t", "message_ids": "1"}),
        ]
        for response in answers:
            assert response.status_code == 404, (bad, response.request.path, response.status_code)
    # In a body, an odd id is refused by name, never read as another message.
    for bad in ("１", "²", "\x00", "2147483648", -1, 2**31, 1.5, True):
        response = api.post(f"/conversations/{desk.conversation}/cases",
                            json=payload(desk, message_ids=[bad, str(desk.messages[3])]))
        assert response.status_code == 400, bad
        refusal = response.json["errors"]["messages"][0]  # string keys (uuid host) take "１" as a key of their own
        assert "is not a message id" in refusal or "is not in this conversation" in refusal, refusal
    assert api.get(f"/cases/{case['id']}").status_code == 200


def test_unknown_routes_and_wrong_methods_answer_json(app, desk, api_as):
    api = api_as(desk.agent)
    for path in ("/nope", "/cases/1/nope", "/", "/conversations"):
        response = api.get(path)
        assert response.status_code == 404 and response.is_json, path
        assert response.json["error"] == "not_found"
    wrong = api.get("/cases/1/resolve")
    assert wrong.status_code == 405 and wrong.is_json and wrong.json["error"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]
    assert api.client.delete(f"{API}/cases/1", headers={"X-CSRFToken": api.token}).status_code == 405
    signed_out = app.test_client().get(f"{API}/nope")
    assert signed_out.status_code == 404 and signed_out.is_json


# -- CSRF through Flask-WTF -----------------------------------------------------------------


def test_without_csrfprotect_a_post_needs_a_valid_token(app, cases, desk, api_as):
    assert "csrf" not in app.extensions  # the test hosts do not set up CSRFProtect
    api = api_as(desk.agent)
    for token in (None, "forged"):
        headers = {"X-CSRFToken": token} if token else {}
        response = api.client.post(f"{API}/conversations/{desk.conversation}/cases", json=payload(desk),
                                   headers=headers)
        assert response.status_code == 400 and response.json["error"] == "csrf"
    assert api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk)).status_code == 201


def test_csrf_follows_the_wtf_settings(app, cases, desk, api_as):
    api = api_as(desk.agent)
    app.config["WTF_CSRF_HEADERS"] = ["X-Helpdesk-Token"]
    url = f"{API}/conversations/{desk.conversation}/cases"
    assert api.client.post(url, json=payload(desk), headers={"X-CSRFToken": api.token}).status_code == 400
    created = api.client.post(url, json=payload(desk), headers={"X-Helpdesk-Token": api.token})
    assert created.status_code == 201

    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    time.sleep(2.1)
    expired = api.client.post(f"{API}/cases/{created.json['case']['id']}/resolve",
                              headers={"X-Helpdesk-Token": api.token})
    assert expired.status_code == 400 and "expired" in expired.json["message"]

    app.config["WTF_CSRF_ENABLED"] = False
    assert api.client.post(f"{API}/cases/{created.json['case']['id']}/resolve").status_code == 200


def test_a_host_with_csrfprotect_checks_once_and_we_agree(app, cases, desk, api_as):
    CSRFProtect(app)
    api = api_as(desk.agent)
    url = f"{API}/conversations/{desk.conversation}/cases"
    refused = api.client.post(url, json=payload(desk))
    assert refused.status_code == 400
    assert api.client.post(url, json=payload(desk), headers={"X-CSRFToken": api.token}).status_code == 201


def test_json_body_is_parsed_once_and_exactly(app, cases, desk, api_as):
    """Duplicate keys, odd types: the service validates what JSON says, nothing is guessed."""
    api = api_as(desk.agent)
    body = f'{{"title": "A", "title": "B", "message_ids": ["{desk.messages[0]}"]}}'
    response = api.client.post(f"{API}/conversations/{desk.conversation}/cases", data=body,
                               headers={"X-CSRFToken": api.token, "Content-Type": "application/json"})
    assert response.status_code == 201 and response.json["case"]["title"] == "B"
    odd = api.post(f"/conversations/{desk.conversation}/cases",
                   json={"title": ["x"], "message_ids": {"a": 1}, "priority": None})
    assert odd.status_code == 400 and set(odd.json["errors"]) >= {"title", "messages", "priority"}
    assert json.loads(odd.get_data())["error"] == "invalid"


def test_json_replies_never_carry_live_markup(app, cases, desk, api_as):
    api = api_as(desk.agent)
    markup = '<script>alert(1)</script>&<img src=x onerror=alert(2)>'
    response = api.post(f"/conversations/{desk.conversation}/cases", json=payload(desk, message_ids=[markup]))
    assert response.status_code == 400
    body = response.get_data()
    assert b"<" not in body and b">" not in body and b"&" not in body
    assert markup[:40] in response.json["errors"]["messages"][0]  # JSON.parse gives the same text back
    fragments = api.client.get(f"/kroncases/conversations/{desk.conversation}/fragments")
    assert b"<section" not in fragments.get_data() and fragments.json["panel"].startswith("<section")
