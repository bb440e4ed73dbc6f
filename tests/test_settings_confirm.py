"""Rotate secret and Delete endpoint ask first: only a POST with ``confirm=yes`` acts, without any script.

Any other POST (a stray click, a resent form, an old page, a keyboard slip)
answers with a page of its own that asks the question, with Confirm (the same
POST plus ``confirm=yes``) and Cancel (back to the endpoint, nothing changed).
"""

from __future__ import annotations

import html
import re
from types import ModuleType
from typing import Any

import pytest

from .hosts import HOSTS
from .test_webhook_settings import PREFIX, client_as, csrf_from, make_endpoint


@pytest.fixture
def host() -> ModuleType:
    """One host schema: nothing here touches the host's keys (both schemas are proved elsewhere),
    and the suite keeps within its time."""
    return HOSTS["classic"]


URL = "http://127.0.0.1:9/hooks/cases"


def secrets_of(app: Any, cases: Any, endpoint_id: Any) -> tuple[str, str | None]:
    with app.app_context():
        endpoint = cases.state.endpoints.endpoint(endpoint_id)
        return endpoint.secret, endpoint.previous_secret


def endpoint_count(app: Any, cases: Any) -> int:
    with app.app_context():
        return len(cases.state.endpoints.endpoints())


def confirm_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and the fields of the page's Confirm form, as a browser without script would send them."""
    form = re.search(r'<form class="kc-inline-form kc-confirm__form" method="post" action="([^"]+)">(.*?)</form>', page, re.S)
    assert form, page
    fields = dict(re.findall(r'<input [^>]*?name="([^"]+)" type="hidden" value="([^"]*)"', form.group(2)))
    return html.unescape(form.group(1)), fields


def test_rotate_without_confirm_asks_and_changes_nothing(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    before = secrets_of(app, cases, endpoint_id)
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)
    asked = admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": token})
    assert asked.status_code == 200
    text = html.unescape(asked.text)
    assert re.search(r'<h2 class="kc-card__title kc-confirm__question" id="kc-confirm-question">'
                     rf"Rotate the secret of {re.escape(URL)}\?</h2>", text)
    assert "The old secret keeps signing for 24 hours." in text
    assert "<title>Rotate secret? · Cases Webhook" in text
    assert re.search(r'<button type="submit" class="kc-button kc-button--primary"\s+'
                     r'aria-describedby="kc-confirm-question kc-confirm-detail">Confirm</button>', text)
    assert f'<a class="kc-button kc-button--secondary" href="{PREFIX}/{endpoint_id}">Cancel</a>' in text
    assert "whsec_" not in text and "Rotate secret</button>" not in text   # the question only, no secret
    assert asked.headers["Cache-Control"] == "no-store"
    assert secrets_of(app, cases, endpoint_id) == before


@pytest.mark.parametrize("value", ["", "no", "YES", "yes ", "true", "1"])
def test_only_confirm_yes_acts(app, cases, desk, value):
    endpoint_id = make_endpoint(app, cases)
    before = secrets_of(app, cases, endpoint_id)
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)
    for action in ("rotate", "delete"):
        asked = admin.post(f"{PREFIX}/{endpoint_id}/{action}", data={"csrf_token": token, "confirm": value})
        assert asked.status_code == 200 and 'id="kc-confirm-question"' in asked.text, action
    assert secrets_of(app, cases, endpoint_id) == before and endpoint_count(app, cases) == 1


def test_the_confirm_form_of_the_question_rotates(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    old_secret, _ = secrets_of(app, cases, endpoint_id)
    admin = client_as(app, desk, desk.admin)
    asked = admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)})
    action, fields = confirm_form(asked.text)
    assert action == f"{PREFIX}/{endpoint_id}/rotate" and fields["confirm"] == "yes" and fields["csrf_token"]
    rotated = admin.post(action, data=fields)
    assert rotated.status_code == 200 and "shown only this once" in rotated.text
    new_secret, previous = secrets_of(app, cases, endpoint_id)
    assert new_secret != old_secret and previous == old_secret
    assert f'value="{new_secret}"' in rotated.text


def test_delete_asks_then_deletes_on_confirm(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)
    asked = admin.post(f"{PREFIX}/{endpoint_id}/delete", data={"csrf_token": token})
    assert asked.status_code == 200
    text = html.unescape(asked.text)
    assert f"Delete the endpoint {URL}?</h2>" in text and "Events stop going to it. This cannot be undone." in text
    assert "<title>Delete endpoint? · Cases Webhook" in text
    assert re.search(r'<button type="submit" class="kc-button kc-button--danger"\s+aria-describedby="[^"]+">Confirm</button>', text)
    assert endpoint_count(app, cases) == 1
    action, fields = confirm_form(asked.text)
    assert action == f"{PREFIX}/{endpoint_id}/delete"
    deleted = admin.post(action, data=fields, follow_redirects=True)
    assert deleted.status_code == 200 and "Webhook deleted." in deleted.text
    assert endpoint_count(app, cases) == 0


def test_cancel_leads_back_to_the_endpoint_unchanged(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    before = secrets_of(app, cases, endpoint_id)
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)
    for action in ("rotate", "delete"):
        asked = admin.post(f"{PREFIX}/{endpoint_id}/{action}", data={"csrf_token": token})
        cancel = re.search(r'<a class="kc-button kc-button--secondary" href="([^"]+)">Cancel</a>', asked.text).group(1)
        back = admin.get(cancel)
        assert back.status_code == 200 and "Rotate secret</button>" in back.text and "Delete endpoint</button>" in back.text
    assert secrets_of(app, cases, endpoint_id) == before and endpoint_count(app, cases) == 1


@pytest.mark.parametrize(("overlap", "words"), [
    (0, "The old secret stops signing at once."),
    (5400, "The old secret keeps signing for 90 minutes."),
    (3600, "The old secret keeps signing for 1 hour."),
    (3 * 86400, "The old secret keeps signing for 3 days."),
    (45, "The old secret keeps signing for 45 seconds."),
])
def test_the_question_says_the_configured_overlap(app, cases, desk, overlap, words):
    app.config["KRONCASES_WEBHOOK_SECRET_OVERLAP"] = overlap
    endpoint_id = make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    asked = admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)})
    assert words in asked.text


def test_confirm_yes_still_needs_the_token_an_admin_and_an_endpoint(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    before = secrets_of(app, cases, endpoint_id)
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)
    agent = client_as(app, desk, desk.agent)
    for action in ("rotate", "delete"):
        assert admin.post(f"{PREFIX}/{endpoint_id}/{action}", data={"confirm": "yes"}).status_code == 400
        assert admin.post(f"{PREFIX}/{endpoint_id}/{action}", data={"confirm": "yes", "csrf_token": "forged"}).status_code == 400
        assert agent.post(f"{PREFIX}/{endpoint_id}/{action}", data={"confirm": "yes", "csrf_token": token}).status_code == 403
        for bad in ("2147483648", "-1", "x"):
            missing = admin.post(f"{PREFIX}/{bad}/{action}", data={"confirm": "yes", "csrf_token": token})
            assert missing.status_code == 404 and "does not exist" in missing.text
            asked = admin.post(f"{PREFIX}/{bad}/{action}", data={"csrf_token": token})
            assert asked.status_code == 404 and "kc-confirm" not in asked.text
    assert secrets_of(app, cases, endpoint_id) == before and endpoint_count(app, cases) == 1


def test_the_settings_page_buttons_ask_instead_of_acting(app, cases, desk):
    """The page's own Rotate and Delete forms carry no ``confirm``: pressing them asks."""
    endpoint_id = make_endpoint(app, cases)
    page = client_as(app, desk, desk.admin).get(f"{PREFIX}/{endpoint_id}").text
    for action, label in (("rotate", "Rotate secret"), ("delete", "Delete endpoint")):
        form = re.search(rf'<form class="kc-inline-form" method="post" action="{PREFIX}/{endpoint_id}/{action}">(.*?)</form>',
                         page, re.S)
        assert form and f">{label}</button>" in form.group(1)
        assert 'name="confirm"' not in form.group(1)
