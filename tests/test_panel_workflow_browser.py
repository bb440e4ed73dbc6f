"""Working a case from the conversation page, in Debian's Chromium: take it, add messages, open its page.

The demo helpdesk on a real server thread with a fresh database (SQLite file or a
PostgreSQL schema of its own), as in ``test_ui_browser.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from examples.host_app.models import Conversation, Message, User, db

from . import test_ui_browser as ui
from .browser.support import screenshot, sign_in
from .support.databases import BROWSER_DATABASES
from .test_ui_browser import (
    case_rows,
    conversation_and_messages,
    expect,
    select_by_right_click,
    serious_violations,
    settle,
    wait_for_script,
)

# The same fixtures as the agent's first path: the demo on each database, Chromium on it.
app = pytest.fixture(params=BROWSER_DATABASES, name="app")(ui.demo_on_database)
browser_page = ui.browser_page
pytestmark = ui.pytestmark


def make_case(app: Flask, conversation_id: int, message_ids: list[int], title: str, email: str = "alex@example.com") -> int:
    """A case made outside this page (another tab, the API, a colleague)."""
    from examples.host_app import cases

    with app.app_context():
        agent = db.session.scalar(sa.select(User).where(User.email == email))
        conversation = db.session.get(Conversation, conversation_id)
        messages = [db.session.get(Message, key) for key in message_ids]
        case_id = int(cases.create_case(conversation, messages, title=title, case_type="technical", priority="high",
                                        by=agent).id)
        db.session.remove()
        return case_id


def assignee_of(app: Flask, case_id: int) -> str | None:
    from examples.host_app import cases

    with app.app_context():
        case = cases.get_case(case_id)
        name = case.assignee.name if case.assignee is not None else None
        db.session.remove()
        return name


def open_sidebar(page: Any) -> None:
    sidebar = page.locator("#sidebar")
    if not sidebar.is_visible():
        page.get_by_role("button", name="Customer details and support cases").click()
    expect(sidebar).to_be_visible()


def test_agent_takes_a_case_adds_messages_and_opens_its_page(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    title = "Orders to Northern Ireland fail with a 500"
    assert make_case(app, conversation_id, ids[:1], title) == 1

    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    live = page.locator("[data-kc-live]")
    # Entries are looked up by their words: the summarizer's own entries come and go in between.
    activity = page.locator(".messages > .kc-activity")

    # The panel: nobody owns the case yet; "Assign to me" takes it, and the button goes.
    open_sidebar(page)
    case = page.locator("#kc-case-1")
    case.locator("summary").click()
    expect(case.locator("[data-kc-owner]")).to_have_text("Unassigned")
    expect(case.get_by_role("link", name="Open case page")).to_have_attribute("href", "/kroncases/cases/1")
    case.get_by_role("button", name="Assign to me").click()
    expect(live).to_have_text("Case #1 is assigned to you.")
    case = page.locator("#kc-case-1")
    expect(case.locator("[data-kc-owner]")).to_have_text("Owner: Alex Morgan")
    expect(case.get_by_role("button", name="Assign to me")).to_have_count(0)
    expect(case.get_by_role("button", name="Mark pending")).to_be_focused()
    expect(activity.filter(has_text="Case #1 assigned to Alex Morgan by Alex Morgan")).to_have_count(1)
    assert assignee_of(app, 1) == "Alex Morgan"

    # Two messages into the case from the action bar: indicators, panel count and thread follow.
    select_by_right_click(page, ids[1])
    select_by_right_click(page, ids[2])
    bar = page.get_by_role("region", name="Selected messages")
    add = bar.get_by_role("group", name="Add to an existing case").get_by_role("button", name="Add to Case #1")
    expect(add).to_have_attribute("title", f"Add the selected messages to Case #1: {title}")
    settle(page)
    assert serious_violations(page) == []   # the page with a selection and the bar's new buttons
    screenshot(page, "conversation-add-to-case")
    add.click()
    expect(live).to_have_text("2 messages added to Case #1.")
    expect(bar).to_be_hidden()
    for message_id in ids[1:3]:
        expect(page.locator(f"#message-{message_id} .kc-indicator__link")).to_have_attribute("href", "#kc-case-1")
        expect(page.locator(f"#message-{message_id}")).not_to_have_class(re.compile(r"\bkc-selected\b"))
    expect(page.locator(f"#message-{ids[1]}")).to_be_focused()
    expect(page.locator("#kc-case-1 [data-kc-message-count]")).to_have_text("3")
    expect(activity.filter(has_text="2 messages added to Case #1 by Alex Morgan")).to_have_count(1)

    # One more from the context menu, by keyboard alone: Shift+F10, down to "Add to Case #1", Enter.
    page.locator(f"#message-{ids[3]}").focus()
    page.keyboard.press("Shift+F10")
    menu = page.get_by_role("menu", name="Message actions")
    expect(menu.get_by_role("menuitem", name="Select message")).to_be_focused()
    page.keyboard.press("ArrowDown")
    item = menu.get_by_role("menuitem", name="Add to Case #1")
    expect(item).to_be_focused()
    expect(item).to_contain_text(title)
    page.keyboard.press("Enter")
    expect(live).to_have_text("1 message added to Case #1.")
    expect(page.locator(f"#message-{ids[3]} .kc-indicator__link")).to_have_attribute("href", "#kc-case-1")
    expect(page.locator("#kc-case-1 [data-kc-message-count]")).to_have_text("4")
    expect(activity.filter(has_text="1 message added to Case #1 by Alex Morgan")).to_have_count(1)
    assert case_rows(app) == [(1, title, sorted(ids[:4]))]

    # A message in a case offers no "Add to": its menu says where it is.
    page.locator(f"#message-{ids[1]} .msg__body").click(button="right")
    expect(menu.get_by_role("menuitem", name=re.compile("Add to Case"))).to_have_count(0)
    page.keyboard.press("Escape")

    # From the indicator, Tab goes on to the case page link; Enter opens the case page.
    page.locator(f"#message-{ids[2]}").focus()
    page.keyboard.press("Tab")
    expect(page.locator(f"#message-{ids[2]} .kc-indicator__link")).to_be_focused()
    page.keyboard.press("Tab")
    link = page.locator(f"#message-{ids[2]} .kc-indicator__page")
    expect(link).to_be_focused()
    expect(page.locator(f"#message-{ids[2]} [role=tooltip]")).to_be_visible()
    expect(link).to_have_accessible_name("Open the page of Case #1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base_url}/kroncases/cases/1")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Case #1")


def test_add_to_case_offers_follow_the_panel_and_refusals_are_shown(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    make_case(app, conversation_id, ids[:1], "GB-NIR orders fail")

    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    live = page.locator("[data-kc-live]")
    bar = page.get_by_role("region", name="Selected messages")
    offers = bar.locator("[data-kc-add-to]")

    select_by_right_click(page, ids[1])
    expect(offers).to_have_text(["Add to Case #1"])

    # Resolving Case #1 takes it off the offers, in the bar and in the menu.
    open_sidebar(page)
    page.locator("#kc-case-1 summary").click()
    page.locator("#kc-case-1").get_by_role("button", name="Resolve").click()
    expect(page.locator("#kc-case-1 .kc-case__pills")).to_contain_text("Resolved")
    expect(offers).to_have_count(0)
    page.locator(f"#message-{ids[2]} .msg__body").click(button="right")
    expect(page.get_by_role("menuitem", name=re.compile("Add to Case"))).to_have_count(0)
    page.keyboard.press("Escape")

    # A case created here is offered at once.
    bar.get_by_role("button", name="Create Case").click()
    dialog = page.get_by_role("dialog", name="Create Case")
    dialog.get_by_label("Title").fill("Workaround: send region GB")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(live).to_have_text("Case #2 created from 1 message.")
    select_by_right_click(page, ids[2])
    select_by_right_click(page, ids[3])
    expect(offers).to_have_text(["Add to Case #2"])

    # Meanwhile a colleague logs one of the selected messages under a new case: the refusal says
    # so, that message shows its case and leaves the selection, the other stays selected.
    assert make_case(app, conversation_id, ids[3:4], "Retried orders", email="admin@example.com") == 3
    offers.first.click()
    message = f"No message was added: Message {ids[3]} is already logged under Case #3."
    expect(page.locator(".kc-toast")).to_have_text(message)
    expect(page.locator(".kc-toast")).to_have_attribute("data-tone", "error")
    expect(page.locator("#kc-case-2 [data-kc-case-error]")).to_have_text(message)
    expect(page.locator("#kc-case-2 [data-kc-case-error]")).to_be_visible()
    expect(live).to_have_text(message)
    expect(page.locator(f"#message-{ids[3]} .kc-indicator__link")).to_have_attribute("href", "#kc-case-3")
    expect(page.locator(f"#message-{ids[3]}")).not_to_have_class(re.compile(r"\bkc-selected\b"))
    expect(page.locator(f"#message-{ids[2]}")).to_have_class(re.compile(r"\bkc-selected\b"))
    expect(bar).to_contain_text("1 message selected")
    expect(offers).to_have_text(["Add to Case #2", "Add to Case #3"])
    assert [row[2] for row in case_rows(app)] == [[ids[0]], [ids[1]], [ids[3]]]

    # Then it works for what is left.
    offers.first.click()
    expect(live).to_have_text("1 message added to Case #2.")
    expect(page.locator("#kc-case-2 [data-kc-message-count]")).to_have_text("2")
    assert [row[2] for row in case_rows(app)] == [[ids[0]], sorted(ids[1:3]), [ids[3]]]
