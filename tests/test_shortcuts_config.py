"""``KRONCASES_SHORTCUTS``: on by default; False leaves the keyboard (and the messages' tab order) to the host.

The page tells the script through ``<meta name="kroncases-shortcuts">`` (from
``kroncases.assets()``); the shortcut sheet is rendered only when they are on.
The browser half runs the demo helpdesk with them off in Debian's Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from examples.host_app import create_app
from examples.host_app.models import db
from flask_kroncases.config import DEFAULTS

from .browser.demo import demo_app, demo_database
from .browser.pages import browser_on
from .browser.support import CHROMIUM, sign_in
from .support.databases import BROWSER_DATABASES
from .test_demo import conversations_of, login, messages_of

SHEET = "data-kc-shortcuts-dialog"


def shortcuts_meta(html: str) -> str:
    match = re.search(r'<meta name="kroncases-shortcuts" content="([^"]*)">', html)
    assert match, "no kroncases-shortcuts meta tag in the page"
    return match.group(1)


@pytest.fixture(params=[True, False], ids=["on", "off"])
def demo(request: pytest.FixtureRequest, database: Any) -> Iterator[tuple[Flask, bool]]:
    config: dict[str, Any] = {"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database.url,
                              "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options}
    if not request.param:
        config["KRONCASES_SHORTCUTS"] = False
    app = create_app(config)
    yield app, request.param
    with app.app_context():
        db.engine.dispose()


def test_shortcuts_are_on_by_default() -> None:
    assert DEFAULTS["KRONCASES_SHORTCUTS"] is True
    app = Flask(__name__)
    from flask_kroncases.config import apply_defaults

    apply_defaults(app.config)
    assert app.config["KRONCASES_SHORTCUTS"] is True


def test_the_page_says_whether_shortcuts_are_on(demo: tuple[Flask, bool]) -> None:
    app, on = demo
    conversation_id, _ = conversations_of(app, "support")[0]
    html = login(app, "alex@example.com").get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert shortcuts_meta(html) == ("on" if on else "off")
    assert (SHEET in html) is on
    if on:
        start = html.rindex("<dialog", 0, html.index(SHEET))
        sheet = html[start:].split("</dialog>")[0]
        assert 'aria-labelledby="kc-shortcuts-title"' in sheet
        assert '<h2 class="kc-dialog__title" id="kc-shortcuts-title">Keyboard shortcuts</h2>' in sheet
        for key in ("j", "k", "x", "c", "Esc", "Enter", "?"):
            assert f'<kbd class="kc-kbd">{key}</kbd>' in sheet
    # The host's markup is the same either way: each message keeps the tabindex the host gave it.
    for message_id, _ in messages_of(app, conversation_id):
        assert re.search(rf'<li [^>]*id="message-{message_id}"[^>]*tabindex="0"', html)


def test_the_readme_names_the_key() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert re.search(r"^\| `KRONCASES_SHORTCUTS` \| `True` \|", readme, re.MULTILINE)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
@pytest.mark.parametrize("kind", BROWSER_DATABASES)
def test_with_shortcuts_off_no_key_is_taken(kind: str, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    with demo_database(kind, tmp_path) as url, demo_app(url, {"KRONCASES_SHORTCUTS": False,
                                                              "KRONCASES_JOB_RUNNER": "thread"}) as app:
        conversation_id = next(c for c, subject in conversations_of(app, "support") if subject.startswith("API returns 500"))
        ids = [m for m, _ in messages_of(app, conversation_id)]
        with browser_on(app) as (_browser, page, base_url):
            sign_in(page, base_url, "alex@example.com")
            page.goto(f"{base_url}/conversations/{conversation_id}")
            expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)
            assert page.evaluate("() => document.activeElement === document.body")

            # No letter does anything: no focus moves, nothing is selected, no form or sheet opens.
            for key in ("j", "x", "j", "x", "c", "?", "k"):
                page.keyboard.press(key)
            assert page.evaluate("() => document.activeElement === document.body")
            expect(page.locator(".kc-selected")).to_have_count(0)
            expect(page.locator("dialog[open]")).to_have_count(0)
            expect(page.locator(f"[{SHEET}]")).to_have_count(0)

            # The host's tab order stands: every message stays a Tab stop of its own.
            stops = page.evaluate("() => [...document.querySelectorAll('[data-kc-message]')].map((m) => m.tabIndex)")
            assert stops == [0] * len(ids)
            page.locator(f"#message-{ids[0]}").focus()
            page.keyboard.press("x")
            expect(page.locator(".kc-selected")).to_have_count(0)
            page.keyboard.press("Tab")
            expect(page.locator(f"#message-{ids[1]}")).to_be_focused()

            # What was there before the shortcuts still works: the message menu and Esc.
            page.keyboard.press("Shift+F10")
            menu = page.get_by_role("menu", name="Message actions")
            expect(menu.get_by_role("menuitem", name="Select message")).to_be_focused()
            page.keyboard.press("Enter")
            expect(page.locator(f"#message-{ids[1]}")).to_have_class(re.compile(r"\bkc-selected\b"))
            page.keyboard.press("c")
            expect(page.locator("dialog[open]")).to_have_count(0)
            page.keyboard.press("Escape")
            expect(page.locator(".kc-selected")).to_have_count(0)
