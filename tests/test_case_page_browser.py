"""The case page in a real browser: Debian's Chromium, driven by Playwright, on the demo helpdesk.

An agent opens a case, takes it with *Assign to me* using the keyboard alone,
leaves a note and sees it listed; axe finds no serious or critical problem.
A screenshot goes to ``test-artifacts/screenshots/case-page.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from .browser.demo import demo_app, demo_database
from .browser.pages import browser_on
from .browser.support import CHROMIUM, screenshot, sign_in
from .support.databases import BROWSER_DATABASES

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

SUBJECT = "API returns 500 on POST /v2/orders"


@pytest.fixture(params=BROWSER_DATABASES)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    with demo_database(request.param, tmp_path) as url, demo_app(url, {"KRONCASES_JOB_RUNNER": "thread"}) as app:
        yield app


def make_case(app: Flask) -> int:
    """A case on two messages of the demo's API conversation, made by Alex, owned by nobody."""
    from examples.host_app import cases
    from examples.host_app.models import Conversation, User, db

    with app.app_context():
        alex = db.session.scalar(sa.select(User).where(User.email == "alex@example.com"))
        conversation = db.session.scalar(sa.select(Conversation).where(Conversation.subject == SUBJECT))
        case = cases.create_case(conversation, conversation.messages[:2], title="Orders to GB-NIR fail with a 500",
                                 case_type="technical", priority="high",
                                 summary="Missing GB-NIR tax rate since release 2024.03.12.", by=alex)
        case_id = int(case.id)
        db.session.remove()
        return case_id


def case_row(app: Flask, case_id: int) -> tuple[str | None, list[str]]:
    from examples.host_app import cases
    from examples.host_app.models import db

    with app.app_context():
        case = cases.get_case(case_id)
        row = (case.assignee.name if case.assignee else None, [note.body for note in case.notes])
        db.session.remove()
        return row


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def tab_to(page: Any, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's accessible text is ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => (document.activeElement.innerText || '').trim()") == name:
            return
    raise AssertionError(f"could not reach {name!r} with Tab")


def test_agent_takes_a_case_with_the_keyboard_and_leaves_a_note(app: Flask) -> None:
    case_id = make_case(app)
    with browser_on(app) as (_, page, base_url):
        sign_in(page, base_url, "alex@example.com")
        page.goto(f"{base_url}/kroncases/cases/{case_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Case #{case_id}: Orders to GB-NIR fail with a 500")
        expect(page.locator("[data-kc-owner]")).to_have_text("Unassigned")
        quotes = page.locator(".kc-quote")
        expect(quotes).to_have_count(2)
        expect(quotes.first.get_by_role("link", name=re.compile("Open in the conversation"))).to_have_attribute(
            "href", re.compile(r"^/conversations/\d+#kc-message-\d+$"))
        assert serious_violations(page) == []
        screenshot(page, "case-page")

        # Assign to me, by keyboard alone; the focused button shows a visible focus ring.
        tab_to(page, "Assign to me")
        button = page.get_by_role("button", name="Assign to me")
        expect(button).to_be_focused()
        ring = button.evaluate("(b) => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth")
        assert not ring.startswith("none") and not ring.endswith(" 0px"), ring
        page.keyboard.press("Enter")
        expect(page.get_by_role("status").filter(has_text="is assigned to")).to_have_text(
            f"Case #{case_id} is assigned to Alex Morgan.")
        expect(page.locator("[data-kc-owner]")).to_have_text("Alex Morgan")
        expect(page.get_by_role("button", name="Assign to me")).to_have_count(0)
        assert case_row(app, case_id) == ("Alex Morgan", [])

        # An empty note is refused at the field; a note is added and listed with its author.
        page.get_by_role("button", name="Add note").click()
        note = page.get_by_label("New note")
        expect(note).to_have_attribute("aria-invalid", "true")
        expect(note).to_be_focused()
        expect(page.locator("#kc-case-note-error")).to_have_text("Write the note first.")
        note.fill("Customer confirmed: every order to Belfast fails.\nWorkaround sent.")
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("status").filter(has_text="note")).to_have_text(
            f"Your note was added to Case #{case_id}.")
        notes = page.locator(".kc-note")
        expect(notes).to_have_count(1)
        expect(notes.first.locator(".kc-note__body")).to_have_text(
            "Customer confirmed: every order to Belfast fails.\nWorkaround sent.")
        expect(notes.first.locator(".kc-note__meta")).to_contain_text("Alex Morgan")
        expect(page.get_by_label("New note")).to_have_value("")
        assert case_row(app, case_id) == ("Alex Morgan", ["Customer confirmed: every order to Belfast fails.\nWorkaround sent."])

        expect(page.locator(".kc-case-page__activity .kc-activity")).to_have_count(3)
        assert serious_violations(page) == []
