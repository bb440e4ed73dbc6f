"""An admin sets up the Cases Webhook in a real browser and watches it deliver to a real receiver.

The demo helpdesk (``examples.host_app``) runs on a real server thread with a
fresh database; Debian's Chromium, driven by Playwright, is the admin. A real
HTTP server on 127.0.0.1 (allowed by ``KRONCASES_WEBHOOK_ALLOW_PRIVATE``) is the
receiver. Deliveries run on a real ``flask kroncases worker`` on the real Redis
(``rq``, on SQLite and PostgreSQL), and once on the demo's in-process thread
runner.

The admin saves the URL, copies the secret shown once, sends a test event that
the receiver verifies with plain ``hmac``, sees it delivered in the log and
redelivers it (same event id, a second attempt). An agent gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from examples.host_app import cases
from examples.host_app.models import db

from .browser.demo import DemoWorker, demo_app, demo_database, wait_until
from .browser.pages import browser_on
from .browser.support import CHROMIUM, SCREENSHOTS, screenshot
from .support.databases import DATABASES
from .support.queues import REDIS_URL
from .support.receiver import Received, Receiver

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

SETTINGS = "/kroncases/settings/integrations/webhooks"
EVENTS = ["case.created", "case.resolved", "case.escalated", "case.reopened"]
SETUPS = [(database, "rq") for database in DATABASES] + [("sqlite", "thread")] * ("sqlite" in DATABASES)


@pytest.fixture(params=SETUPS, ids=[f"{d}-{r}" for d, r in SETUPS])
def setup(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


#: For a page check where neither the database nor the job runner plays a part: one setup proves it.
one_setup = pytest.mark.parametrize("setup", SETUPS[:1], indirect=True, ids=[f"{d}-{r}" for d, r in SETUPS[:1]])


@pytest.fixture
def database_url(setup: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    with demo_database(setup[0], tmp_path) as url:
        yield url


@pytest.fixture
def demo_config(setup: tuple[str, str], queue_name: str) -> dict[str, Any]:
    return {
        "KRONCASES_JOB_RUNNER": setup[1],
        "KRONCASES_REDIS_URL": REDIS_URL,
        "KRONCASES_QUEUE_NAME": queue_name,
        "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"],
    }


@pytest.fixture
def app(database_url: str, demo_config: dict[str, Any]) -> Iterator[Flask]:
    with demo_app(database_url, demo_config) as app:
        yield app


@pytest.fixture
def worker(setup: tuple[str, str], database_url: str, demo_config: dict[str, Any], queue_name: str,
           tmp_path: Path) -> Iterator[DemoWorker | None]:
    """The real worker for ``rq``; none for the thread runner (jobs run in the server process)."""
    if setup[1] != "rq":
        yield None
        return
    name = f"{queue_name}-w0"
    process = DemoWorker(database_url, demo_config, tmp_path / f"{name}.log", "--sweep-interval", "0", "--name", name)
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


def verified(hit: Received, secret: str) -> dict[str, Any]:
    """Check X-KronGage-Signature with nothing but hmac, as the README's receiver does; return the event."""
    expected = "sha256=" + hmac.new(secret.encode(), hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, hit.headers.get("x-krongage-signature", "")), "signature does not verify"
    event = json.loads(hit.body)
    assert hit.headers["webhook-id"] == event["id"]
    assert hit.headers["x-krongage-event"] == event["type"]
    return event


def delivery_rows(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        Delivery: Any = cases.models.WebhookDelivery
        rows = [
            {"id": d.id, "event_id": d.event_id, "event_type": d.event_type, "status": d.status,
             "attempts": d.attempts, "last_status_code": d.last_status_code}
            for d in db.session.scalars(sa.select(Delivery).order_by(Delivery.id))
        ]
        db.session.remove()
        return rows


def settled(app: Flask, attempts: int) -> dict[str, Any] | None:
    """The one delivery, once it is delivered after ``attempts`` attempts (the receiver answers before the commit)."""
    rows = delivery_rows(app)
    if len(rows) == 1 and rows[0]["status"] == "delivered" and rows[0]["attempts"] == attempts:
        return rows[0]
    return None


def log_row(page: Any, delivery_id: int) -> dict[str, Any]:
    row = page.locator(f'.kc-table tr[data-delivery-id="{delivery_id}"]')
    expect(row).to_be_visible()
    cells = row.locator("td")
    return {"row": row, "event": cells.nth(0), "status": cells.nth(2), "attempts": cells.nth(3), "code": cells.nth(4)}


def test_admin_sets_the_url_sends_a_test_event_sees_it_logged_and_redelivers(
    app: Flask, worker: DemoWorker | None, receiver: Receiver,
) -> None:
    with browser_on(app) as (browser, page, base_url):
        sign_in(page, base_url, "admin@example.com")
        page.goto(base_url + SETTINGS)
        expect(page.get_by_role("heading", name="Cases Webhook", level=1)).to_be_visible()
        expect(page.get_by_role("heading", name="Add an endpoint")).to_be_visible()
        expect(page.get_by_text("No deliveries yet")).to_have_count(0)

        # Fill the URL, keep the events (all ticked by default) and Enabled; Save.
        page.get_by_label("Endpoint URL").fill(receiver.url)
        for event in EVENTS:
            expect(page.get_by_role("checkbox", name=event)).to_be_checked()
        expect(page.get_by_role("checkbox", name="Enabled")).to_be_checked()
        page.get_by_role("button", name="Save").click()

        # The secret is shown this once, in full; the card below shows it masked.
        secret_box = page.get_by_role("textbox", name="Signing secret")
        expect(secret_box).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("It is shown only this once.")
        secret = secret_box.input_value()
        assert re.fullmatch(r"whsec_\S{24,}", secret), secret
        masked = page.locator(".kc-masked")
        expect(masked).to_have_text(f"whsec_{secret[6:10]}…{secret[-4:]}")
        expect(page.get_by_role("heading", name="Endpoint", exact=True)).to_be_visible()
        expect(page.get_by_label("Endpoint URL")).to_have_value(receiver.url)
        expect(page.get_by_text("No deliveries yet. Send a test event to check the endpoint.")).to_be_visible()
        screenshot(page, "webhook-settings-secret")

        # Send test event: the receiver gets a signed ping.
        page.get_by_role("button", name="Send test event").click()
        expect(page.locator(".flash--success")).to_have_text(re.compile(r"Test event queued \(delivery #\d+\)\."))
        expect(secret_box).to_have_count(0)          # shown once: not on the next page
        first = receiver.wait_for(lambda hits: len(hits) >= 1)[0]
        ping = verified(first, secret)
        assert ping["type"] == "ping" and first.path == "/hooks/cases"
        delivery = wait_until(lambda: settled(app, 1), "the ping to be recorded as delivered", worker=worker)
        assert delivery["event_id"] == ping["id"] and delivery["last_status_code"] == 200

        # The log shows it: Delivered, 200, 1 attempt.
        page.get_by_role("link", name="Refresh").click()
        row = log_row(page, delivery["id"])
        expect(row["event"]).to_contain_text("ping")
        expect(row["event"]).to_contain_text(ping["id"])
        expect(row["status"]).to_have_text("Delivered")
        expect(row["code"]).to_have_text("200")
        expect(row["attempts"]).to_have_text("1")

        # Redeliver: the same event, signed again, a second attempt in the log.
        row["row"].get_by_role("button", name="Redeliver").click()
        expect(page.locator(".flash--success")).to_have_text(f"Delivery #{delivery['id']} queued again.")
        hits = receiver.wait_for(lambda hits: len(hits) >= 2)
        again = verified(hits[1], secret)
        assert again["id"] == ping["id"] and hits[1].body == first.body
        wait_until(lambda: settled(app, 2), "the redelivery to be recorded", worker=worker)
        page.get_by_role("link", name="Refresh").click()
        row = log_row(page, delivery["id"])
        expect(row["status"]).to_have_text("Delivered")
        expect(row["code"]).to_have_text("200")
        expect(row["attempts"]).to_have_text("2")
        expect(page.locator(".kc-table tbody tr")).to_have_count(1)
        assert len(receiver.hits) == 2
        if worker is not None:   # both attempts were that worker's jobs, not the web process's
            worker.assert_alive()
            completed = re.findall(r"Successfully completed flask_kroncases\.jobs\.deliver_endpoint\(\d+\) job",
                                 worker.output())
            assert len(completed) == 2, worker.output()

        page.evaluate("window.scrollTo(0, 0)")
        path = screenshot(page, "webhook-settings")
        assert path == SCREENSHOTS / "webhook-settings.png" and path.stat().st_size > 10_000

        # An agent may not see the page.
        agent = browser.new_context()
        try:
            agent_page = agent.new_page()
            sign_in(agent_page, base_url, "alex@example.com")
            response = agent_page.goto(base_url + SETTINGS)
            assert response is not None and response.status == 403
            response = agent_page.goto(f"{base_url}{SETTINGS}/{delivery['id']}")
            assert response is not None and response.status == 403
        finally:
            agent.close()


@one_setup
def test_the_new_secret_has_a_copy_button_that_works_by_keyboard_and_stays_text_without_script(app: Flask) -> None:
    with browser_on(app) as (browser, page, base_url):
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        sign_in(page, base_url, "admin@example.com")
        page.goto(base_url + SETTINGS)
        page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hooks/copy")
        page.get_by_role("button", name="Save").click()
        secret = page.get_by_role("textbox", name="Signing secret").input_value()
        assert secret.startswith("whsec_")

        # Keyboard only: Tab order reaches the button, Enter copies, the live region says so.
        status = page.locator("[data-kc-copy-status]")
        expect(status).to_have_attribute("role", "status")
        expect(status).to_have_text("")
        copy = page.get_by_role("button", name="Copy secret")
        expect(copy).to_be_visible()
        page.get_by_role("textbox", name="Signing secret").focus()
        page.keyboard.press("Tab")
        expect(copy).to_be_focused()
        page.keyboard.press("Enter")
        expect(status).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == secret
        page.evaluate("navigator.clipboard.writeText('')")
        page.keyboard.press("Space")
        expect(status).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == secret
        screenshot(page, "webhook-settings-copied")

        # The next page shows no secret and so no button.
        page.get_by_role("button", name="Send test event").click()
        expect(page.get_by_role("button", name="Copy secret")).to_have_count(0)

        # Without JavaScript the button stays hidden and the secret is plain selectable text.
        plain = browser.new_context(java_script_enabled=False)
        try:
            nojs = plain.new_page()
            sign_in(nojs, base_url, "admin@example.com")
            nojs.goto(base_url + SETTINGS + "/new")
            nojs.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hooks/no-script")
            nojs.get_by_role("button", name="Save").click()
            box = nojs.get_by_role("textbox", name="Signing secret")
            expect(box).to_have_value(re.compile(r"^whsec_\S{24,}$"))
            expect(box).to_be_enabled()
            expect(box).to_have_attribute("readonly", "")
            expect(nojs.locator("[data-kc-copy]")).to_be_hidden()
            expect(nojs.get_by_role("button", name="Copy secret")).to_have_count(0)
        finally:
            plain.close()


def endpoint_rows(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        Endpoint: Any = cases.models.WebhookEndpoint
        rows = [(e.url, e.secret) for e in db.session.scalars(sa.select(Endpoint).order_by(Endpoint.id))]
        db.session.remove()
        return rows


@one_setup
def test_rotate_and_delete_ask_first_and_work_by_keyboard(app: Flask) -> None:
    url = "http://127.0.0.1:9/hooks/confirm"
    with browser_on(app) as (_browser, page, base_url):
        sign_in(page, base_url, "admin@example.com")
        page.goto(base_url + SETTINGS)
        page.get_by_label("Endpoint URL").fill(url)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("textbox", name="Signing secret")).to_be_visible()
        [(_, first_secret)] = endpoint_rows(app)
        page.goto(base_url + SETTINGS)

        # Rotate secret asks; Cancel (keyboard) goes back and nothing changed.
        page.get_by_role("button", name="Rotate secret").focus()
        page.keyboard.press("Enter")
        question = page.get_by_role("heading", level=2, name=f"Rotate the secret of {url}?")
        expect(question).to_be_visible()
        expect(page.get_by_text("The old secret keeps signing for 24 hours.")).to_be_visible()
        expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
        expect(page).to_have_title(re.compile(r"^Rotate secret\? · Cases Webhook"))
        screenshot(page, "webhook-settings-confirm-rotate")
        page.get_by_role("link", name="Cancel").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Rotate secret")).to_be_visible()
        assert endpoint_rows(app) == [(url, first_secret)]

        # Asked again, Confirm (reached with Shift+Tab from Cancel, pressed with Enter) rotates.
        page.get_by_role("button", name="Rotate secret").focus()
        page.keyboard.press("Enter")
        expect(question).to_be_visible()
        page.get_by_role("link", name="Cancel").focus()
        page.keyboard.press("Shift+Tab")
        confirm = page.get_by_role("button", name="Confirm")
        expect(confirm).to_be_focused()
        page.keyboard.press("Enter")
        secret_box = page.get_by_role("textbox", name="Signing secret")
        expect(secret_box).to_be_visible()
        [(_, second_secret)] = endpoint_rows(app)
        assert second_secret != first_secret and secret_box.input_value() == second_secret
        expect(page.get_by_text("The previous secret also signs until")).to_be_visible()

        # Delete endpoint asks; Confirm with Space deletes.
        page.get_by_role("button", name="Delete endpoint").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=2, name=f"Delete the endpoint {url}?")).to_be_visible()
        expect(page.get_by_text("Events stop going to it. This cannot be undone.")).to_be_visible()
        assert len(endpoint_rows(app)) == 1
        screenshot(page, "webhook-settings-confirm-delete")
        page.get_by_role("button", name="Confirm").focus()
        page.keyboard.press("Space")
        expect(page.get_by_text("Webhook deleted.")).to_be_visible()
        expect(page.get_by_role("heading", name="Add an endpoint")).to_be_visible()
        assert endpoint_rows(app) == []


# -- the selection style (issue 12, "small ones"): kroncases.css, not only a ring --------------------

STYLE = """(el) => { const s = getComputedStyle(el);
    return {outline: s.outlineStyle, outlineWidth: s.outlineWidth, shadow: s.boxShadow, background: s.backgroundColor}; }"""


@one_setup
def test_a_selected_message_looks_unlike_a_focused_one(app: Flask) -> None:
    with browser_on(app) as (_browser, page, base_url):
        sign_in(page, base_url, "alex@example.com")
        page.locator(".row").first.click()
        expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)
        messages = page.locator("[data-kc-message]")
        assert messages.count() >= 3
        first, second, third = messages.nth(0), messages.nth(1), messages.nth(2)
        plain = third.evaluate(STYLE)

        page.keyboard.press("j")          # focus the first message
        expect(first).to_be_focused()
        page.keyboard.press("x")          # select it
        expect(first).to_have_class(re.compile(r"\bkc-selected\b"))
        page.keyboard.press("j")          # focus moves on; the first stays selected
        expect(second).to_be_focused()
        selected, focused = first.evaluate(STYLE), second.evaluate(STYLE)

        # Selected, not focused: no ring at all; a tint over its own background and a bar at the left.
        assert selected["outline"] == "none", selected
        assert "inset" in selected["shadow"], selected          # the tint (an inset shadow over the host's background)
        assert re.search(r"rgb\(\d+, \d+, \d+\) -8px 0px 0px 0px", selected["shadow"]), selected   # the left bar
        assert selected["background"] == plain["background"]    # the host's own background is kept
        mark = first.locator("[data-kc-mark]")
        expect(mark).to_have_text(re.compile(r"Selected"))
        expect(mark.locator("svg")).to_have_count(1)             # the check mark
        # Focused, not selected: a ring, no tint, no bar, no pill.
        assert "inset" not in focused["shadow"] and "-8px" not in focused["shadow"], focused
        assert focused["outline"] != "none" or focused["shadow"] != "none", focused
        expect(second.locator("[data-kc-mark]")).to_have_count(0)
        assert (selected["outline"], selected["shadow"]) != (focused["outline"], focused["shadow"])

        # Selected and focused: the tint and bar stay, and a solid ring is drawn clear of the bar.
        page.keyboard.press("k")
        expect(first).to_be_focused()
        both = first.evaluate(STYLE)
        assert both["outline"] == "solid" and both["outlineWidth"] == "3px", both
        assert both["shadow"] == selected["shadow"]
        offset = first.evaluate("(el) => parseFloat(getComputedStyle(el).outlineOffset)")
        assert offset > 8     # the ring lies outside the 8 px of gap and bar
        screenshot(page, "selection-style")
