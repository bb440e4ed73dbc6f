"""The title limit is said, not cut: a real paste in Chromium (Playwright) past the limit is kept whole.

The field has no ``maxlength``: 95 pasted characters stay 95, the counter shows
``95/80`` in its warning state with the message "Shorten the title to 80
characters; it has 95.", Save is refused with that message (nothing is saved),
and once the agent shortens the title Save works.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_kroncases.enums import TITLE_MAX_LENGTH

from .browser.demo import demo_app, demo_database
from .browser.pages import browser_on, open_conversation, select_message
from .browser.support import CHROMIUM, screenshot, sign_in
from .support.databases import BROWSER_DATABASES
from .test_ui_browser import SUBJECT, case_rows, conversation_and_messages

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

PASTED = "Checkout returns HTTP 500 for every order shipped to Northern Ireland since release 2024.03.12!"


@pytest.fixture(params=BROWSER_DATABASES)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    with demo_database(request.param, tmp_path) as url, demo_app(url, {"KRONCASES_JOB_RUNNER": "thread"}) as app:
        yield app


def test_a_pasted_title_past_the_limit_is_kept_said_and_refused_until_shortened(app: Flask) -> None:
    assert len(PASTED) == 95 and TITLE_MAX_LENGTH == 80
    message = f"Shorten the title to {TITLE_MAX_LENGTH} characters; it has {len(PASTED)}."
    conversation_id, message_ids = conversation_and_messages(app)
    with browser_on(app) as (_, page, base_url):
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        sign_in(page, base_url, "alex@example.com")
        open_conversation(page, SUBJECT)
        select_message(page, message_ids[0])
        select_message(page, message_ids[1])
        page.get_by_role("region", name="Selected messages").get_by_role("button", name="Create Case").click()
        dialog = page.get_by_role("dialog", name="Create Case")
        title = dialog.get_by_label("Title")
        expect(title).to_be_focused()
        expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
        counter = dialog.locator("[data-kc-counter]")
        slot = dialog.locator("[data-kc-error-for=title]")
        assert title.get_attribute("maxlength") is None
        assert title.get_attribute("data-kc-max") == str(TITLE_MAX_LENGTH)

        # A real paste over the whole field: kept whole, the count and the message said.
        page.evaluate("(text) => navigator.clipboard.writeText(text)", PASTED)
        title.focus()
        page.keyboard.press("ControlOrMeta+A")
        page.keyboard.press("ControlOrMeta+V")
        expect(title).to_have_value(PASTED)
        expect(counter).to_have_text(f"95/{TITLE_MAX_LENGTH}")
        expect(counter).to_have_class(re.compile(r"\bkc-counter--over\b"))
        # The warning state is seen, not only named: bold on a background of its own.
        assert counter.evaluate("(el) => getComputedStyle(el).fontWeight") == "700"
        assert counter.evaluate("(el) => getComputedStyle(el).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
        expect(slot).to_be_visible()
        expect(slot).to_have_text(message)
        expect(title).to_have_attribute("aria-invalid", "true")
        assert "kc-case-title-error" in (title.get_attribute("aria-describedby") or "")
        screenshot(page, "case-form-title-over-limit")

        # Save is refused with the same message; nothing is saved, the text stays for the agent to shorten.
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_visible()
        expect(slot).to_have_text(message)
        expect(title).to_be_focused()
        expect(title).to_have_value(PASTED)
        assert case_rows(app) == []

        # Shortened by typing: the warning goes, and Save works.
        title.press("End")
        for _ in range(len(PASTED) - TITLE_MAX_LENGTH):
            title.press("Backspace")
        shortened = PASTED[:TITLE_MAX_LENGTH].strip()
        expect(counter).to_have_text(f"{len(shortened)}/{TITLE_MAX_LENGTH}")
        expect(counter).not_to_have_class(re.compile(r"\bkc-counter--over\b"))
        expect(slot).to_be_hidden()
        expect(title).not_to_have_attribute("aria-invalid", "true")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("[data-kc-live]")).to_contain_text("Case #1 created")
    assert [(case_id, saved) for case_id, saved, _ in case_rows(app)] == [(1, shortened)]
    assert conversation_id
