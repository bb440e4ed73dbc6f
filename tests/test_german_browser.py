"""An agent who works in German, in Chromium: menu, bar, form, panel and activity in German, local times.

Jonas (``jonas@example.com``) is the demo's German user, in Europe/Berlin. The
German texts expected here are read from the shipped catalog, so the test proves
the page follows the agent's locale, whatever words the translator chose.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from babel.support import Translations
from flask import Flask

from flask_kroncases.i18n import DOMAIN, TRANSLATIONS

from . import test_ui_browser as ui
from .browser.support import screenshot, sign_in
from .support.databases import BROWSER_DATABASES
from .test_ui_browser import case_rows, conversation_and_messages, expect, serious_violations, settle, wait_for_script

app = pytest.fixture(params=BROWSER_DATABASES[:1], name="app")(ui.demo_on_database)
browser_page = ui.browser_page
pytestmark = ui.pytestmark

GERMAN = Translations.load(str(TRANSLATIONS), ["de"], DOMAIN)


def de(text: str, **variables: Any) -> str:
    translated = GERMAN.gettext(text)
    assert translated != text, f"{text!r} has no German translation"
    return translated % variables if variables else translated


def de_plural(singular: str, plural: str, num: int) -> str:
    return GERMAN.ngettext(singular, plural, num) % {"num": num}


def test_a_german_agent_creates_a_case_in_german_with_berlin_times(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "jonas@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    assert page.locator("html").get_attribute("lang") == "de"

    # The message menu, in German.
    page.locator(f"#message-{ids[0]} .msg__body").click(button="right")
    menu = page.get_by_role("menu", name=de("Message actions"))
    expect(menu).to_be_visible()
    menu.get_by_role("menuitem", name=de("Select message")).click()
    page.keyboard.press("j")
    page.keyboard.press("x")

    # The action bar counts in German.
    bar = page.get_by_role("region", name=de("Selected messages"))
    expect(bar).to_contain_text(de_plural("message selected", "messages selected", 2))
    expect(bar.get_by_role("button", name=de("Create Case"))).to_be_visible()
    bar.get_by_role("button", name=de("Create Case")).click()

    # The form, in German.
    dialog = page.get_by_role("dialog", name=de("Create Case"))
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label(de("Title"))).to_be_visible()
    expect(dialog.get_by_label(de("Priority"))).to_be_visible()
    dialog.get_by_label(de("Title")).fill("Bestellungen schlagen mit 500 fehl")
    dialog.get_by_label(de("Priority")).select_option("high")
    settle(page)
    assert serious_violations(page) == []
    screenshot(page, "german-form")
    dialog.get_by_role("button", name=de("Save")).click()
    expect(dialog).to_be_hidden()

    rows = case_rows(app)
    assert [(title, messages) for _, title, messages in rows] == [("Bestellungen schlagen mit 500 fehl", sorted(ids[:2]))]
    case_id = rows[0][0]

    # The toast offers to show the case; the panel and the activity entry are in German,
    # with times in Berlin's zone.
    page.get_by_role("button", name=de("Show case")).click()
    panel = page.locator(f"#kc-case-{case_id}")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(de("High"))
    expect(page.locator("#kc-panel-title")).to_have_text(de("Support Cases"))
    activity = page.locator(f"[data-kc-activity][data-case-id='{case_id}']").first
    page.reload()
    wait_for_script(page)
    expect(activity).to_be_visible()
    text = activity.inner_text()
    assert "created by" not in text and "Jonas Weber" in text and f"#{case_id}" in text
    title = activity.locator("time").get_attribute("title") or ""
    assert re.search(r"(MEZ|MESZ|CET|CEST|GMT\+0?[12]|\+0[12]:?00)", title), title
    indicator = page.locator(f"#message-{ids[0]}")
    expect(indicator).to_contain_text(f"#{case_id}")
    assert "This message is logged under" not in indicator.inner_text()
    settle(page)
    assert serious_violations(page) == []
    screenshot(page, "german-panel")
