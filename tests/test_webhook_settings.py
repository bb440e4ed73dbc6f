"""Settings → Integrations → Cases Webhook: admins only, CSRF, clear refusals, secret shown once."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from flask_kroncases import CaseError

from .hosts import HOSTS
from .test_service import create


@pytest.fixture
def host() -> ModuleType:
    """One host schema: nothing here touches the host's keys (both schemas are proved elsewhere),
    and the suite keeps within its time."""
    return HOSTS["classic"]


PREFIX = "/kroncases/settings/integrations/webhooks"


@pytest.fixture
def app_config(queue_name: str) -> dict[str, Any]:
    from .conftest import REDIS_URL

    return {"KRONCASES_REDIS_URL": REDIS_URL, "KRONCASES_QUEUE_NAME": queue_name}


def client_as(app: Any, desk: Any, key: Any) -> Any:
    with app.app_context():
        return app.test_client(user=desk.user(key))


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def form(token: str, url: str, events: tuple[str, ...] = ("case.created", "case.resolved"), enabled: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": token, "url": url, "description": "Ops", "events": list(events)}
    if enabled:
        data["enabled"] = "y"
    return data


def make_endpoint(app: Any, cases: Any, url: str = "http://127.0.0.1:9/hooks/cases") -> Any:
    app.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"] = ["127.0.0.1/32"]  # nothing listens on port 9
    with app.app_context():
        endpoint, _ = cases.state.endpoints.create_endpoint(url)
        return endpoint.id


def test_non_admins_get_403_on_every_settings_route(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        create(cases, desk)
        delivery_id = cases.state.endpoints.send_test_event(endpoint_id).id
    agent = client_as(app, desk, desk.agent)
    routes = [
        ("get", PREFIX), ("get", PREFIX + "/new"), ("post", PREFIX), ("get", f"{PREFIX}/{endpoint_id}"),
        ("post", f"{PREFIX}/{endpoint_id}"), ("post", f"{PREFIX}/{endpoint_id}/rotate"),
        ("post", f"{PREFIX}/{endpoint_id}/test"), ("post", f"{PREFIX}/{endpoint_id}/delete"),
        ("post", f"{PREFIX}/deliveries/{delivery_id}/redeliver"),
    ]
    for method, path in routes:
        assert getattr(agent, method)(path).status_code == 403, path
    anonymous = app.test_client()
    for method, path in routes:
        assert getattr(anonymous, method)(path).status_code in (401, 302), path


def test_admin_creates_an_endpoint_and_sees_the_secret_once(app, cases, desk):
    admin = client_as(app, desk, desk.admin)
    page = admin.get(PREFIX)
    assert page.status_code == 200 and "Cases Webhook" in page.text
    app.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"] = ["127.0.0.1/32"]
    created = admin.post(PREFIX, data=form(csrf_from(page.text), "http://127.0.0.1:9/hooks"))
    assert created.status_code == 201
    secret = re.search(r'value="(whsec_[^"]+)"', created.text).group(1)
    assert "shown only this once" in created.text
    with app.app_context():
        endpoint = cases.state.endpoints.endpoints()[0]
        assert endpoint.secret == secret and endpoint.events == ["case.created", "case.resolved"]
        endpoint_id = endpoint.id
    later = admin.get(f"{PREFIX}/{endpoint_id}")
    assert secret not in later.text
    assert secret[:10] in later.text and "…" in later.text  # masked
    rotated = admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": csrf_from(later.text), "confirm": "yes"})
    new_secret = re.search(r'value="(whsec_[^"]+)"', rotated.text).group(1)
    assert new_secret != secret and "previous secret also signs until" in rotated.text
    assert new_secret not in admin.get(f"{PREFIX}/{endpoint_id}").text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://[::1]:8080/hook", "::1"),
        ("http://127.0.0.1:5000/hook", "127.0.0.1"),
        ("file:///etc/passwd", "http"),
        ("ftp://example.com/hook", "http"),
        ("not a url", ""),
    ],
)
def test_refused_urls_get_a_clear_message_and_save_nothing(app, cases, desk, url, message):
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(PREFIX).text)
    response = admin.post(PREFIX, data=form(token, url))
    assert response.status_code == 400
    error = re.search(r'class="kc-field-error"[^>]*>([^<]+)<', response.text)
    assert error, response.text
    assert message in error.group(1)
    assert f'value="{url}"' in response.text.replace("&#39;", "'") or url == "not a url"
    with app.app_context():
        assert cases.state.endpoints.endpoints() == []


def test_posts_without_csrf_token_are_refused(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    assert admin.post(PREFIX, data={"url": "https://hooks.example.com/x", "events": ["case.created"]}).status_code == 400
    for action in ("rotate", "test", "delete"):
        assert admin.post(f"{PREFIX}/{endpoint_id}/{action}", data={}).status_code == 400, action
    with app.app_context():
        endpoints = cases.state.endpoints.endpoints()
        assert len(endpoints) == 1
        assert cases.state.db.session.scalar(sa.select(sa.func.count()).select_from(cases.models.WebhookDelivery)) == 0


def test_test_event_and_redeliver_from_the_page(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    page = admin.get(f"{PREFIX}/{endpoint_id}")
    sent = admin.post(f"{PREFIX}/{endpoint_id}/test", data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)
    assert "Test event queued" in sent.text and "<code>ping</code>" in sent.text
    with app.app_context():
        delivery = cases.state.endpoints.deliveries(endpoint_id)[0]
        delivery.status, delivery.attempts, delivery.last_error = "failed", 10, "HTTP 500 — gave up after 10 attempts."
        cases.state.db.session.commit()
        delivery_id, event_id = delivery.id, delivery.event_id
    again = admin.post(f"{PREFIX}/deliveries/{delivery_id}/redeliver", data={"csrf_token": csrf_from(sent.text)},
                       follow_redirects=True)
    assert f"Delivery #{delivery_id} queued again." in again.text
    with app.app_context():
        delivery = cases.state.endpoints.delivery(delivery_id)
        assert delivery.status == "pending" and delivery.event_id == event_id


def test_a_disabled_endpoint_shows_why(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        endpoint = cases.state.endpoints.endpoint(endpoint_id)
        endpoint.enabled, endpoint.disabled_reason = False, "The receiver answered 410 Gone on 2026-11-25 08:00 UTC."
        cases.state.db.session.commit()
    page = client_as(app, desk, desk.admin).get(f"{PREFIX}/{endpoint_id}")
    assert "This endpoint was disabled." in page.text and "410 Gone" in page.text


def test_a_second_endpoint_for_the_same_url_is_refused(app, cases, desk):
    make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    again = admin.post(PREFIX, data=form(csrf_from(admin.get(PREFIX + "/new").text), "http://127.0.0.1:9/hooks/cases"))
    assert again.status_code == 400 and "exists already; rotate its secret instead" in again.text
    with app.app_context():
        assert len(cases.state.endpoints.endpoints()) == 1


def test_the_demo_nav_links_admins_to_the_webhook_settings(database):
    from examples.host_app import create_app

    demo = create_app({"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": database.url,
                       "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options, "WTF_CSRF_ENABLED": False})
    from examples.host_app.models import db

    pages = {}
    for email in ("admin@example.com", "alex@example.com"):
        client = demo.test_client()
        client.post("/login", data={"email": email, "password": "demo"})
        pages[email] = client.get("/").text
    with demo.app_context():
        db.engine.dispose()
    assert PREFIX in pages["admin@example.com"] and PREFIX not in pages["alex@example.com"]


def fullwidth(number: int) -> str:
    """``14`` → ``"１４"``: digits that int() and a regex ``\\d`` take, but are no id."""
    return "".join(chr(0xFF10 + int(d)) for d in str(number))


@pytest.mark.parametrize("bad", ["2147483648", "99999999999999999999999", "-1", "²", "FULLWIDTH", "%00", "1%00",
                                 "0x1", "1.0"])
def test_ids_that_are_no_key_are_404_on_every_route(app, cases, desk, bad):
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        delivery_id = cases.state.endpoints.send_test_event(endpoint_id).id
    raw = {"FULLWIDTH": fullwidth(endpoint_id)}.get(bad, bad)
    app.config["PROPAGATE_EXCEPTIONS"] = False       # a crash is a 500 here, not an exception in the test
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(f"{PREFIX}/{endpoint_id}").text)
    routes = [("get", f"{PREFIX}/{raw}"), ("post", f"{PREFIX}/{raw}"), ("post", f"{PREFIX}/{raw}/rotate"),
              ("post", f"{PREFIX}/{raw}/test"), ("post", f"{PREFIX}/{raw}/delete"),
              ("post", f"{PREFIX}/deliveries/{raw if bad != 'FULLWIDTH' else fullwidth(delivery_id)}/redeliver")]
    for method, path in routes:
        response = getattr(admin, method)(path, data={"csrf_token": token, **form(token, "http://127.0.0.1:9/x")})
        assert response.status_code == 404, (path, response.status_code)
        assert "does not exist" in response.text
    with app.app_context():   # nothing was changed through another id
        endpoint = cases.state.endpoints.endpoint(endpoint_id)
        assert endpoint.url == "http://127.0.0.1:9/hooks/cases"
        assert len(cases.state.endpoints.deliveries(endpoint_id)) == 1


def test_the_service_turns_ids_from_urls_into_keys(app, cases):
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        service = cases.state.endpoints
        assert service.endpoint(str(endpoint_id)).id == endpoint_id == service.endpoint(endpoint_id).id
        for bad in (2**31, -1, "²", fullwidth(endpoint_id), "\x00", f"{endpoint_id}\x00", None, True, 1.5, [1]):
            with pytest.raises(CaseError) as refused:
                service.endpoint(bad)
            assert refused.value.kind == "not_found"
            with pytest.raises(CaseError):
                service.delivery(bad)


def test_every_settings_response_is_no_store(app, cases, desk):
    app.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"] = ["127.0.0.1/32"]
    admin = client_as(app, desk, desk.admin)
    page = admin.get(PREFIX)
    token = csrf_from(page.text)
    created = admin.post(PREFIX, data=form(token, "http://127.0.0.1:9/hooks"))
    assert created.status_code == 201 and "whsec_" in created.text
    with app.app_context():
        endpoint_id = cases.state.endpoints.endpoints()[0].id
    rotated = admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": token, "confirm": "yes"})
    assert rotated.status_code == 200 and "shown only this once" in rotated.text
    responses = {
        "index": page, "create (secret)": created, "rotate (secret)": rotated,
        "rotate (question)": admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": token}),
        "show": admin.get(f"{PREFIX}/{endpoint_id}"), "new": admin.get(PREFIX + "/new"),
        "invalid form": admin.post(PREFIX, data=form(token, "ftp://x")),
        "redirect": admin.post(f"{PREFIX}/{endpoint_id}/test", data={"csrf_token": token}),
        "404": admin.get(f"{PREFIX}/2147483648"), "400 no csrf": admin.post(f"{PREFIX}/{endpoint_id}/rotate"),
        "403": client_as(app, desk, desk.agent).get(PREFIX),
        "anonymous": app.test_client().get(PREFIX),
    }
    assert {name: r.headers.get("Cache-Control") for name, r in responses.items()} == {
        name: "no-store" for name in responses}


@pytest.mark.parametrize("bad", ["\r\n", "\n", "\r", "\x00", "\t"])
def test_control_characters_in_the_url_are_a_form_error(app, cases, desk, bad):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"] = ["127.0.0.1/32"]
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(PREFIX).text)
    response = admin.post(PREFIX, data=form(token, f"http://127.0.0.1:9/hooks{bad}X-Injected: 1"))
    assert response.status_code == 400
    error = re.search(r'class="kc-field-error" id="url-error">([^<]+)<', response.text)
    assert error and "control characters" in error.group(1), response.text
    endpoint_id = make_endpoint(app, cases)
    response = admin.post(f"{PREFIX}/{endpoint_id}", data=form(token, f"http://127.0.0.1:9/other{bad}x"))
    assert response.status_code == 400 and "control characters" in response.text
    with app.app_context():
        assert [e.url for e in cases.state.endpoints.endpoints()] == ["http://127.0.0.1:9/hooks/cases"]


def test_a_nul_in_the_description_is_a_form_error(app, cases, desk):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"] = ["127.0.0.1/32"]
    admin = client_as(app, desk, desk.admin)
    token = csrf_from(admin.get(PREFIX).text)
    response = admin.post(PREFIX, data={**form(token, "http://127.0.0.1:9/hooks"), "description": "Ops\x00"})
    assert response.status_code == 400
    error = re.search(r'class="kc-field-error" id="description-error">([^<]+)<', response.text)
    assert error and "cannot be saved" in error.group(1)
    with app.app_context():
        assert cases.state.endpoints.endpoints() == []


def test_statuses_are_one_vocabulary_and_a_delivery_in_flight_cannot_be_redelivered(app, cases, desk):
    from flask_kroncases.enums import CLAIMABLE, DeliveryStatus

    assert [s.value for s in DeliveryStatus] == ["pending", "retrying", "sending", "delivered", "failed"]
    assert CLAIMABLE == (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        delivery = cases.state.endpoints.send_test_event(endpoint_id)
        assert delivery.status == DeliveryStatus.PENDING
        delivery.status = DeliveryStatus.SENDING
        cases.state.db.session.commit()
        delivery_id = delivery.id
    admin = client_as(app, desk, desk.admin)
    page = admin.get(f"{PREFIX}/{endpoint_id}")
    row = re.search(rf'<tr data-delivery-id="{delivery_id}">.*?</tr>', page.text, re.S).group(0)
    assert "kc-pill--delivery-sending" in row and "Sending" in row
    assert re.search(r'<button type="submit" class="kc-button kc-button--small" disabled>Redeliver</button>', row)
    refused = admin.post(f"{PREFIX}/deliveries/{delivery_id}/redeliver", data={"csrf_token": csrf_from(page.text)})
    assert refused.status_code == 409 and "being sent right now" in refused.text
    with app.app_context():
        assert cases.state.endpoints.delivery(delivery_id).status == "sending"
        cases.state.endpoints.delivery(delivery_id).status = DeliveryStatus.FAILED
        cases.state.db.session.commit()
    page = admin.get(f"{PREFIX}/{endpoint_id}")
    row = re.search(rf'<tr data-delivery-id="{delivery_id}">.*?</tr>', page.text, re.S).group(0)
    assert "Failed" in row and " disabled>Redeliver" not in row


def test_a_new_secret_comes_with_a_copy_button_the_script_reveals(app, cases, desk):
    app.config["KRONCASES_WEBHOOK_ALLOW_PRIVATE"] = ["127.0.0.1/32"]
    admin = client_as(app, desk, desk.admin)
    created = admin.post(PREFIX, data=form(csrf_from(admin.get(PREFIX).text), "http://127.0.0.1:9/hooks"))
    assert created.status_code == 201
    button = re.search(r"<button [^>]*data-kc-copy=\"kc-new-secret\"[^>]*>([^<]+)</button>", created.text)
    assert button and button.group(1) == "Copy secret"
    assert " hidden" in button.group(0) and 'type="button"' in button.group(0)   # shown by the script only
    assert re.search(r'<span [^>]*role="status"[^>]*data-kc-copy-status>', created.text)
    assert '/kroncases/static/settings.js" defer' in created.text
    assert re.search(r'<input id="kc-new-secret" [^>]*readonly value="whsec_', created.text)
    with app.app_context():
        endpoint_id = cases.state.endpoints.endpoints()[0].id
    later = admin.get(f"{PREFIX}/{endpoint_id}").text
    assert "data-kc-copy" not in later and "settings.js" not in later
    script = admin.get("/kroncases/static/settings.js")
    assert script.status_code == 200 and "navigator.clipboard" in script.text
    script.close()
