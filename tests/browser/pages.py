"""Browser fixtures and steps shared by the worker and webhook browser tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

from .support import launch, live_server


@contextmanager
def browser_on(app: Flask, *, viewport: dict[str, int] | None = None) -> Iterator[tuple[Any, Any, str]]:
    """Serve ``app``, open Chromium; yield (playwright browser, page, base URL). Fails on page JS errors."""
    from playwright.sync_api import sync_playwright

    with live_server(app) as base_url, sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield browser, page, base_url
        finally:
            context.close()
            browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def open_conversation(page: Any, subject: str) -> None:
    from playwright.sync_api import expect

    page.locator(".row", has_text=subject).click()
    expect(page.get_by_role("heading", name=subject)).to_be_visible()
    expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)


def select_message(page: Any, message_id: Any) -> None:
    """Select a message the way an agent does: right-click, then *Select message*."""
    from playwright.sync_api import expect

    page.locator(f"#message-{message_id} .msg__body").click(button="right")
    menu = page.get_by_role("menu", name="Message actions")
    expect(menu).to_be_visible()
    menu.get_by_role("menuitem", name="Select message").click()
    expect(page.locator(f"#message-{message_id}")).to_have_class(re.compile(r"\bkc-selected\b"))
