"""Keyboard shortcuts on the conversation page, in Debian's Chromium: j/k, x, c, Enter, Esc, ?.

The demo helpdesk on a real server thread with a fresh database (SQLite file or a
PostgreSQL schema of its own), as in ``test_ui_browser.py``. Every key is pressed
through Playwright's keyboard, and the presses of the agent's shortest path are
counted: two messages to a saved case in six keys from page load.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from . import test_ui_browser as ui
from .browser.support import screenshot, sign_in
from .support.databases import BROWSER_DATABASES
from .test_ui_browser import case_rows, conversation_and_messages, expect, serious_violations, settle, wait_for_script

app = pytest.fixture(params=BROWSER_DATABASES, name="app")(ui.demo_on_database)
browser_page = ui.browser_page
pytestmark = ui.pytestmark

SELECTED = re.compile(r"\bkc-selected\b")


def focused_message(page: Any) -> str | None:
    """The data-kc-message of the focused message, or None when focus is elsewhere."""
    found: str | None = page.evaluate("() => document.activeElement && document.activeElement.getAttribute('data-kc-message')")
    return found


def tab_stops(page: Any) -> list[str]:
    """The messages a Tab can land on (tabindex 0)."""
    stops: list[str] = page.evaluate("() => [...document.querySelectorAll('[data-kc-message]')]"
                                     ".filter((m) => m.tabIndex === 0).map((m) => m.dataset.kcMessage)")
    return stops


class Keys:
    """The keyboard, counting every press."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str) -> None:
        self.count += 1
        self.page.keyboard.press(key)


def test_two_messages_to_a_saved_case_in_six_keys(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    assert page.evaluate("() => document.activeElement === document.body")
    # The thread is one Tab stop, whatever tabindex the host's template gave each message.
    assert tab_stops(page) == [str(ids[0])]

    keys = Keys(page)
    keys.press("j")
    assert focused_message(page) == str(ids[0])
    keys.press("x")
    expect(page.locator(f"#message-{ids[0]}")).to_have_class(SELECTED)
    keys.press("j")
    assert focused_message(page) == str(ids[1])
    assert tab_stops(page) == [str(ids[1])]
    keys.press("x")
    expect(page.locator(f"#message-{ids[1]}")).to_have_class(SELECTED)
    expect(page.get_by_role("region", name="Selected messages")).to_contain_text("2 messages selected")
    keys.press("c")
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog).to_be_visible()
    title = dialog.get_by_label("Title")
    expect(title).to_be_focused()
    expect(title).not_to_have_value(re.compile("^c"))  # the "c" opened the form, it was not typed into it
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    expect(title).not_to_have_value("")
    suggested = title.input_value()
    keys.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-kc-live]")).to_have_text("Case #1 created from 2 messages.")
    assert keys.count == 6
    assert case_rows(app) == [(1, suggested, sorted(ids[:2]))]


def test_j_and_k_rove_through_the_thread_as_one_tab_stop(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    live = page.locator("[data-kc-live]")

    # k from the page's start also lands on the thread's Tab stop; k on the first stays there.
    page.keyboard.press("k")
    assert focused_message(page) == str(ids[0])
    page.keyboard.press("k")
    assert focused_message(page) == str(ids[0])
    for message_id in ids[1:]:
        page.keyboard.press("j")
        assert focused_message(page) == str(message_id)
    page.keyboard.press("j")  # the last stays the last
    assert focused_message(page) == str(ids[-1])
    assert tab_stops(page) == [str(ids[-1])]
    page.keyboard.press("k")
    assert focused_message(page) == str(ids[-2])
    # On a message the arrows move as j and k do.
    page.keyboard.press("ArrowUp")
    assert focused_message(page) == str(ids[-3])
    page.keyboard.press("ArrowDown")
    assert focused_message(page) == str(ids[-2])

    # One Tab leaves the thread, one Shift+Tab comes back to the message the agent was on.
    page.keyboard.press("Tab")
    assert focused_message(page) is None
    assert not page.evaluate("() => !!document.activeElement.closest('[data-kc-thread]')")
    page.keyboard.press("Shift+Tab")
    assert focused_message(page) == str(ids[-2])

    # A click on a message moves the Tab stop there too; j goes on from it.
    page.locator(f"#message-{ids[1]} .msg__body").click()
    assert tab_stops(page) == [str(ids[1])]
    page.keyboard.press("j")
    assert focused_message(page) == str(ids[2])

    # x toggles; Esc clears (as before); c without a selection says what to do and opens nothing.
    page.keyboard.press("x")
    expect(page.locator(f"#message-{ids[2]}")).to_have_class(SELECTED)
    page.keyboard.press("x")
    expect(page.locator(f"#message-{ids[2]}")).not_to_have_class(SELECTED)
    expect(live).to_have_text("Message deselected. 0 messages selected.")
    page.keyboard.press("x")
    page.keyboard.press("Escape")
    expect(live).to_have_text("Selection cleared.")
    expect(page.locator(".kc-selected")).to_have_count(0)
    page.keyboard.press("c")
    expect(live).to_have_text("Select messages first: x selects the message you are on.")
    expect(page.get_by_role("dialog", name="Create Case")).to_be_hidden()

    # x away from the thread selects nothing.
    page.get_by_role("button", name="Customer details and support cases").focus()
    page.keyboard.press("x")
    expect(live).to_have_text("Move to a message first: j for the next, k for the previous.")
    expect(page.locator(".kc-selected")).to_have_count(0)


def test_letters_are_text_in_fields_and_wait_behind_dialogs(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)

    # In the reply box every key is a letter: nothing moves, nothing is selected, no dialog opens.
    reply = page.locator(".composer textarea")
    reply.focus()
    page.keyboard.type("jxjxc?k")
    expect(reply).to_have_value("jxjxc?k")
    expect(reply).to_be_focused()
    expect(page.locator(".kc-selected")).to_have_count(0)
    expect(page.locator("dialog[open]")).to_have_count(0)

    # In the form's title and summary too; Enter in the summary is a new line, not a save.
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog", name="Create Case")
    title = dialog.get_by_label("Title")
    expect(title).to_be_focused()
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    title.fill("")
    page.keyboard.type("jkx?c")
    expect(title).to_have_value("jkx?c")
    summary = dialog.get_by_label("AI Summary")
    summary.fill("")
    summary.focus()
    page.keyboard.type("first line")
    page.keyboard.press("Enter")
    page.keyboard.type("j?")
    expect(summary).to_have_value("first line\nj?")
    expect(dialog).to_be_visible()
    assert case_rows(app) == []
    assert focused_message(page) is None

    # Outside the fields but inside the form (its Cancel button): the letters still do nothing.
    dialog.get_by_role("button", name="Cancel").focus()
    for key in ("j", "k", "x", "c", "?"):
        page.keyboard.press(key)
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    expect(page.locator(".kc-selected")).to_have_count(1)

    # Esc closes the form (as before) and the selection stays; a second Esc clears it.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".kc-selected")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator(".kc-selected")).to_have_count(0)


def test_question_mark_opens_the_shortcut_sheet(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)

    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("?")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    assert page.evaluate("() => !!document.activeElement.closest('dialog[open][data-kc-shortcuts-dialog]')")
    for text in ("Next or previous message", "Select or deselect the message", "Create a case from the selection",
                 "save the case", "clear the selection", "Show this list"):
        expect(sheet).to_contain_text(text)
    expect(sheet.locator("kbd", has_text="?")).to_have_count(1)
    settle(page)
    screenshot(page, "keyboard-shortcut-sheet")
    assert serious_violations(page) == []

    # Behind the sheet nothing moves; Tab stays in it; Esc closes it, focus goes back, the selection stays.
    page.keyboard.press("j")
    page.keyboard.press("c")
    expect(page.get_by_role("dialog", name="Create Case")).to_be_hidden()
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('dialog[open][data-kc-shortcuts-dialog]')")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    assert focused_message(page) == str(ids[0])
    expect(page.locator(f"#message-{ids[0]}")).to_have_class(SELECTED)

    # ? again opens it, ? closes it; its Close button closes it too.
    page.keyboard.press("?")
    expect(sheet).to_be_visible()
    page.keyboard.press("?")
    expect(sheet).to_be_hidden()
    assert focused_message(page) == str(ids[0])
    page.keyboard.press("?")
    sheet.get_by_role("button", name="Close").first.click()
    expect(sheet).to_be_hidden()
    assert focused_message(page) == str(ids[0])


def test_following_a_case_indicator_focuses_the_case_in_the_panel(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    for key in ("j", "x", "c"):
        page.keyboard.press(key)
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator(f"#message-{ids[0]} .kc-indicator__link")).to_have_attribute("href", "#kc-case-1")

    # The sidebar closed (the agent shut it): the indicator opens it and puts focus on the case.
    toggle = page.get_by_role("button", name="Customer details and support cases")
    if page.locator("#sidebar").is_visible():
        toggle.click()
    expect(page.locator("#sidebar")).to_be_hidden()
    page.locator(f"#message-{ids[0]}").focus()
    page.keyboard.press("Tab")
    expect(page.locator(f"#message-{ids[0]} .kc-indicator__link")).to_be_focused()
    page.keyboard.press("Enter")
    summary = page.locator("#kc-case-1 > summary")
    expect(summary).to_be_focused()
    expect(page.locator("#kc-case-1")).to_have_attribute("open", "")

    # Followed again (the URL already ends in #kc-case-1): focus goes there again.
    page.keyboard.press("j")  # from the panel, j returns to the thread's Tab stop
    assert focused_message(page) == str(ids[0])
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(summary).to_be_focused()
