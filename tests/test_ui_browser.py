"""The agent's whole path in a real browser: Debian's Chromium, driven by Playwright.

The demo helpdesk runs on a real server thread with a fresh database (a SQLite
file, or a PostgreSQL schema of its own). Screenshots of the conversation with
the open form and with the accordion go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from examples.host_app import create_app
from examples.host_app.models import Conversation, Message, db

from .browser.support import CHROMIUM, launch, live_server, screenshot, sign_in
from .support.databases import DATABASES, POSTGRES_URL, postgres_schema, search_path

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

SUBJECT = "API returns 500 on POST /v2/orders"


def demo_on_database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Flask]:
    """The demo app on ``request.param``'s database (a fixture body other modules reuse)."""
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "browser-test",
        "KRONCASES_JOB_RUNNER": "thread",
    }
    with ExitStack() as stack:
        if request.param == "sqlite":
            config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'helpdesk.sqlite'}"
        else:
            schema = stack.enter_context(postgres_schema())
            config["SQLALCHEMY_DATABASE_URI"] = POSTGRES_URL
            config["SQLALCHEMY_ENGINE_OPTIONS"] = search_path(schema)
        app = create_app(config)
        app.config["DB_NAME"] = request.param
        yield app
        with app.app_context():
            db.engine.dispose()


app = pytest.fixture(params=DATABASES, name="app")(demo_on_database)


@contextmanager
def page_on(app: Flask, width: int = 1440, height: int = 900) -> Iterator[tuple[Any, str]]:
    """A Chromium page of that size on ``app`` served live; fails on JavaScript errors in the page."""
    with live_server(app) as base_url, playwright_api.sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page, base_url
        finally:
            context.close()
            browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def browser_page(app: Flask) -> Iterator[tuple[Any, str]]:
    with page_on(app) as opened:
        yield opened


def conversation_and_messages(app: Flask, subject: str = SUBJECT) -> tuple[int, list[int]]:
    with app.app_context():
        conversation = db.session.scalar(sa.select(Conversation).where(Conversation.subject == subject))
        return conversation.id, [m.id for m in conversation.messages]


def case_rows(app: Flask) -> list[tuple[int, str, list[int]]]:
    with app.app_context():
        from examples.host_app import cases

        rows = db.session.scalars(sa.select(cases.models.Case).order_by(cases.models.Case.id)).all()
        result = [(c.id, c.title, sorted(c.message_ids)) for c in rows]
        db.session.remove()
        return result


def open_conversation(page: Any, base_url: str) -> None:
    page.locator(".row", has_text=SUBJECT).click()
    expect(page.get_by_role("heading", name=SUBJECT)).to_be_visible()
    wait_for_script(page)


def wait_for_script(page: Any) -> None:
    expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)


def select_by_right_click(page: Any, message_id: int) -> None:
    page.locator(f"#message-{message_id} .msg__body").click(button="right")
    menu = page.get_by_role("menu", name="Message actions")
    expect(menu).to_be_visible()
    menu.get_by_role("menuitem", name="Select message").click()
    expect(page.locator(f"#message-{message_id}")).to_have_class(re.compile(r"\bkc-selected\b"))


def settle(page: Any) -> None:
    """Let opening animations finish: half-faded text would fail the contrast rule."""
    page.evaluate(
        """() => Promise.all(document.getAnimations()
            .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
            .map((a) => a.finished.catch(() => null)))"""
    )


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_agent_creates_and_works_a_case_with_the_mouse(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, message_ids = conversation_and_messages(app)
    first, second, third = message_ids[0], message_ids[2], message_ids[4]

    sign_in(page, base_url, "alex@example.com")
    open_conversation(page, base_url)

    # Select two messages by right-click; select and deselect a third.
    select_by_right_click(page, first)
    bar = page.get_by_role("region", name="Selected messages")
    expect(bar).to_contain_text("1 message selected")
    select_by_right_click(page, second)
    select_by_right_click(page, third)
    expect(bar).to_contain_text("3 messages selected")
    page.locator(f"#message-{third} .msg__body").click(button="right")
    page.get_by_role("menuitem", name="Deselect message").click()
    expect(page.locator(f"#message-{third}")).not_to_have_class(re.compile(r"\bkc-selected\b"))
    expect(bar).to_contain_text("2 messages selected")
    expect(page.locator("[data-kc-live]")).to_have_text("Message deselected. 2 messages selected.")

    # Create Case: the form opens at once with a suggested title; edit it; a double click saves once.
    bar.get_by_role("button", name="Create Case").click()
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog).to_be_visible()
    title = dialog.get_by_label("Title")
    expect(title).to_be_focused()
    expect(title).not_to_have_value("")
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    expect(dialog.get_by_label("AI Summary")).not_to_have_value("")
    # Over the limit Save is refused with the message at the field, and the text stays.
    title.fill("x" * 81)
    dialog.get_by_label("AI Summary").fill("Missing GB-NIR tax rate since release 2024.03.12; workaround: send region GB.")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("[data-kc-error-for=title]")).to_have_text("Shorten the title to 80 characters; it has 81.")
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(title).to_be_focused()
    expect(title).to_have_value("x" * 81)
    expect(dialog.get_by_label("AI Summary")).to_have_value("Missing GB-NIR tax rate since release 2024.03.12; workaround: send region GB.")
    assert case_rows(app) == []
    title.fill("Orders to Northern Ireland fail with a 500 (GB-NIR)")
    expect(dialog.locator("[data-kc-counter]")).to_have_text("51/80")
    dialog.get_by_label("Case Type").select_option("technical")
    dialog.get_by_label("Priority").select_option("high")
    settle(page)
    screenshot(page, "conversation-case-form")
    dialog.get_by_role("button", name="Save").dblclick()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-kc-live]")).to_have_text("Case #1 created from 2 messages.")
    assert case_rows(app) == [(1, "Orders to Northern Ireland fail with a 500 (GB-NIR)", sorted([first, second]))]

    # The accordion shows the case; the sidebar opens only when asked: the toast's "Show case" does.
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_hidden()
    page.locator(".kc-toast").get_by_role("button", name="Show case").click()
    expect(sidebar).to_be_visible()
    case = sidebar.locator("#kc-case-1")
    expect(case).to_have_attribute("open", "")
    for text in ("Case #1", "Orders to Northern Ireland fail with a 500 (GB-NIR)", "Technical", "High", "Open"):
        expect(case).to_contain_text(text)
    expect(case.locator(".kc-case__summary")).to_have_text("Missing GB-NIR tax rate since release 2024.03.12; workaround: send region GB.")

    # Both messages show the indicator; hover and keyboard focus show the text.
    for message_id in (first, second):
        link = page.locator(f"#message-{message_id} .kc-indicator__link")
        tip = page.locator(f"#message-{message_id} [role=tooltip]")
        expect(tip).to_be_hidden()
        link.hover()
        expect(tip).to_be_visible()
        expect(tip).to_have_text("This message is logged under Case #1.")
        expect(link).to_have_attribute("href", "#kc-case-1")
    page.mouse.move(5, 5)
    page.locator(f"#message-{first}").focus()
    page.keyboard.press("Tab")
    expect(page.locator(f"#message-{first} .kc-indicator__link")).to_be_focused()
    expect(page.locator(f"#message-{first} [role=tooltip]")).to_be_visible()
    expect(page.locator(f"#message-{third} [data-kc-indicator]")).to_have_count(0)

    # The thread shows the activity after the messages it came after; the list shows the badge.
    activity = page.locator(".messages > .kc-activity")
    expect(activity.first).to_contain_text("Case #1 created by Alex Morgan · Technical · High")
    assert page.locator(".messages > li").last.get_attribute("data-kc-activity") is not None
    row = page.locator(f'.row[data-conversation-id="{conversation_id}"]')
    expect(row.locator(".kc-badge--support-case")).to_have_text("support-case")
    activity.first.scroll_into_view_if_needed()
    page.locator(f"#message-{second} .kc-indicator__link").hover()
    settle(page)
    screenshot(page, "conversation-accordion")

    # Status moves update the panel, the thread and the list without a reload.
    case.get_by_role("button", name="Mark pending").click()
    expect(case.locator(".kc-case__pills")).to_contain_text("Pending")
    expect(activity.last).to_contain_text("Case #1 marked pending by Alex Morgan")
    page.locator("#kc-case-1").get_by_role("button", name="Resolve").click()
    expect(page.locator("#kc-case-1 .kc-case__pills")).to_contain_text("Resolved")
    expect(activity.last).to_contain_text("Case #1 resolved by Alex Morgan")
    expect(row.locator(".kc-badge--support-case-resolved")).to_have_text("support-case-resolved")
    page.goto(f"{base_url}/")
    expect(page.locator(f'.row[data-conversation-id="{conversation_id}"] .kc-badge--support-case-resolved')).to_be_visible()
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)

    case = page.locator("#kc-case-1")
    if not case.is_visible():
        page.get_by_role("button", name="Customer details and support cases").click()
    if case.get_attribute("open") is None:
        case.locator("summary").click()
    case.get_by_role("button", name="Reopen").click()
    expect(case.locator(".kc-case__pills")).to_contain_text("Open")
    expect(page.locator(".messages > .kc-activity").last).to_contain_text("Case #1 reopened by Alex Morgan")

    # Escalate asks for a reason, refuses none, then records it.
    page.locator("#kc-case-1").get_by_role("button", name="Escalate…").click()
    escalate = page.get_by_role("dialog", name="Escalate Case #1")
    expect(escalate).to_be_visible()
    escalate.get_by_role("button", name="Escalate").click()
    expect(escalate.locator("[data-kc-error-for=reason]")).to_have_text("Say why the case is escalated.")
    escalate.get_by_label("Reason").fill("40 orders blocked; customer is on the Enterprise plan.")
    escalate.get_by_role("button", name="Escalate").click()
    expect(escalate).to_be_hidden()
    case = page.locator("#kc-case-1")
    expect(case.locator(".kc-case__pills")).to_contain_text("Escalated")
    expect(case).to_contain_text("40 orders blocked; customer is on the Enterprise plan.")
    expect(page.locator(".messages > .kc-activity").last).to_contain_text(
        "Case #1 escalated by Alex Morgan (level 1): 40 orders blocked; customer is on the Enterprise plan."
    )

    # A message already in the case says why it cannot be selected again.
    page.locator(f"#message-{first} .msg__body").click(button="right")
    item = page.get_by_role("menuitem", name=re.compile("Select message"))
    expect(item).to_have_attribute("aria-disabled", "true")
    expect(item).to_contain_text("Already logged under Case #1")
    page.keyboard.press("Escape")
    expect(page.get_by_role("menu", name="Message actions")).to_be_hidden()

    # Accessibility: the page with the accordion, then with the open form.
    settle(page)
    assert serious_violations(page) == []
    select_by_right_click(page, third)
    page.get_by_role("button", name="Create Case").click()
    expect(page.get_by_role("dialog", name="Create Case")).to_be_visible()
    settle(page)
    assert serious_violations(page) == []


def test_agent_creates_a_case_with_the_keyboard_alone(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, message_ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)

    def tab_to(selector: str, limit: int = 120, back: bool = False) -> None:
        for _ in range(limit):
            page.keyboard.press("Shift+Tab" if back else "Tab")
            if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"could not reach {selector} with Tab")

    live = page.locator("[data-kc-live]")
    tab_to(f"#message-{message_ids[0]}")
    page.keyboard.press("Shift+F10")
    expect(page.get_by_role("menuitem", name="Select message")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"#message-{message_ids[0]}")).to_be_focused()
    expect(live).to_have_text("Message selected. 1 message selected.")

    # Escape clears the selection; select again, then a second message with the context-menu key.
    page.keyboard.press("Escape")
    expect(live).to_have_text("Selection cleared.")
    expect(page.get_by_role("region", name="Selected messages")).to_be_hidden()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    # The thread is one Tab stop (KRONCASES_SHORTCUTS): j, or ArrowDown on a message, goes to the next one.
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#message-{message_ids[1]}")).to_be_focused()
    page.keyboard.press("ContextMenu")
    expect(page.get_by_role("menuitem", name="Select message")).to_be_focused()
    page.keyboard.press("Enter")
    expect(live).to_have_text("Message selected. 2 messages selected.")

    # Hold the summarizer's answer until the agent has typed, as a slow model would.
    held: list[Any] = []
    released = False

    def hold(route: Any) -> None:
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r".*/suggestions.*"), hold)
    tab_to("[data-kc-create]")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Title")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("Customer locked out by the API error")
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Case Type")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Priority")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("AI Summary")).to_be_focused()
    page.keyboard.type("Typed by the agent; no suggestion may replace it.")
    expect(dialog.locator("[data-kc-suggest-status]")).to_have_text(re.compile("Suggesting"))
    released = True
    assert held, "the form asked for no suggestion"
    for route in held:
        route.continue_()
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    expect(dialog.get_by_label("Title")).to_have_value("Customer locked out by the API error")
    expect(dialog.get_by_label("AI Summary")).to_have_value("Typed by the agent; no suggestion may replace it.")
    # Focus stays inside the dialog: Tab past Save comes back to the top.
    tab_to("[data-kc-save]")
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('dialog[open]')")
    tab_to("[data-kc-save]")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(live).to_have_text("Case #1 created from 2 messages.")
    rows = case_rows(app)
    assert rows == [(1, "Customer locked out by the API error", sorted(message_ids[:2]))]
    with app.app_context():
        from examples.host_app import cases

        assert cases.get_case(1).summary == "Typed by the agent; no suggestion may replace it."
    expect(page.locator(f"#message-{message_ids[0]}")).to_be_focused()

    # The message is now in a case: the keyboard menu says so and refuses to select it.
    page.keyboard.press("Shift+F10")
    item = page.get_by_role("menuitem", name=re.compile("Select message"))
    expect(item).to_be_focused()
    expect(item).to_contain_text("Already logged under Case #1")
    page.keyboard.press("Enter")
    expect(live).to_have_text("This message is already logged under Case #1; it cannot be selected again.")
    expect(page.get_by_role("region", name="Selected messages")).to_be_hidden()


def test_cases_page_links_back_to_the_message(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, message_ids = conversation_and_messages(app)
    with app.app_context():
        from examples.host_app import cases
        from examples.host_app.models import User

        alex = db.session.scalar(sa.select(User).where(User.email == "alex@example.com"))
        conversation = db.session.get(Conversation, conversation_id)
        messages = [db.session.get(Message, key) for key in message_ids[2:4]]
        cases.create_case(conversation, messages, title="Workaround for GB-NIR orders", case_type="technical",
                          priority="urgent", summary="Send region GB until the fix.", by=alex)
        db.session.remove()

    sign_in(page, base_url, "alex@example.com")
    page.get_by_role("link", name="Support cases").click()
    expect(page.get_by_role("heading", name="Support cases")).to_be_visible()
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_label("Search titles").fill("GB-NIR")
    page.get_by_role("button", name="Apply").click()
    row = page.locator("tr[data-case-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Urgent")
    settle(page)
    assert serious_violations(page) == []
    screenshot(page, "cases-page")
    expect(row.get_by_role("link", name="Workaround for GB-NIR orders")).to_have_attribute(
        "href", re.compile(r"/kroncases/cases/1$"))  # the case page; the conversation link goes to the message
    row.get_by_role("link", name=SUBJECT).click()
    page.wait_for_url(re.compile(rf"/conversations/{conversation_id}#kc-message-{message_ids[2]}$"))
    expect(page.locator(f"#message-{message_ids[2]}")).to_be_focused()
