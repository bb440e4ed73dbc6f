"""Settings → Integrations → Cases Webhook: admins only, CSRF, clear refusals, secret shown once."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from .test_service import create

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
        endpoint, _ = cases.state.webhooks.create_endpoint(url)
        return endpoint.id


def test_non_admins_get_403_on_every_settings_route(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        create(cases, desk)
        delivery_id = cases.state.webhooks.send_test_event(endpoint_id).id
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
        endpoint = cases.state.webhooks.endpoints()[0]
        assert endpoint.secret == secret and endpoint.events == ["case.created", "case.resolved"]
        endpoint_id = endpoint.id
    later = admin.get(f"{PREFIX}/{endpoint_id}")
    assert secret not in later.text
    assert secret[:10] in later.text and "…" in later.text  # masked
    rotated = admin.post(f"{PREFIX}/{endpoint_id}/rotate", data={"csrf_token": csrf_from(later.text)})
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
        assert cases.state.webhooks.endpoints() == []


def test_posts_without_csrf_token_are_refused(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    assert admin.post(PREFIX, data={"url": "https://hooks.example.com/x", "events": ["case.created"]}).status_code == 400
    for action in ("rotate", "test", "delete"):
        assert admin.post(f"{PREFIX}/{endpoint_id}/{action}", data={}).status_code == 400, action
    with app.app_context():
        endpoints = cases.state.webhooks.endpoints()
        assert len(endpoints) == 1
        assert cases.state.db.session.scalar(sa.select(sa.func.count()).select_from(cases.models.WebhookDelivery)) == 0


def test_test_event_and_redeliver_from_the_page(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    admin = client_as(app, desk, desk.admin)
    page = admin.get(f"{PREFIX}/{endpoint_id}")
    sent = admin.post(f"{PREFIX}/{endpoint_id}/test", data={"csrf_token": csrf_from(page.text)}, follow_redirects=True)
    assert "Test event queued" in sent.text and "<code>ping</code>" in sent.text
    with app.app_context():
        delivery = cases.state.webhooks.deliveries(endpoint_id)[0]
        delivery.status, delivery.attempts, delivery.last_error = "failed", 10, "HTTP 500 — gave up after 10 attempts."
        cases.state.db.session.commit()
        delivery_id, event_id = delivery.id, delivery.event_id
    again = admin.post(f"{PREFIX}/deliveries/{delivery_id}/redeliver", data={"csrf_token": csrf_from(sent.text)},
                       follow_redirects=True)
    assert f"Delivery #{delivery_id} queued again." in again.text
    with app.app_context():
        delivery = cases.state.webhooks.delivery(delivery_id)
        assert delivery.status == "pending" and delivery.event_id == event_id


def test_a_disabled_endpoint_shows_why(app, cases, desk):
    endpoint_id = make_endpoint(app, cases)
    with app.app_context():
        endpoint = cases.state.webhooks.endpoint(endpoint_id)
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
        assert len(cases.state.webhooks.endpoints()) == 1


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
