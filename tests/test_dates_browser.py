"""One date format on the conversation page, in Chromium: the host's messages, the activity and the panel.

Every time an agent reads is relative when recent ("5 minutes ago") or a short date
("Mar 04, 14:05"), carries the full date, time and zone on hover (``title``) and the
exact UTC time for programs (``datetime``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from . import test_ui_browser as ui
from .browser.support import sign_in
from .support.databases import BROWSER_DATABASES
from .test_ui_browser import conversation_and_messages, select_by_right_click, wait_for_script

app = pytest.fixture(params=BROWSER_DATABASES[:1], name="app")(ui.demo_on_database)
browser_page = ui.browser_page
pytestmark = ui.pytestmark

#: Relative, or a short date with the time (the demo sets up Flask-Babel: "11/20/26, 5:56 PM").
SHORT = re.compile(r"^(just now|\d+ (minute|hour|second)s? ago|in \d+ (minute|hour|second)s?|.*\d{1,2}:\d{2}.*)$")
#: The full date with the year, the time and the zone.
FULL = re.compile(r"\d{4}.*\d{1,2}:\d{2}.*\s(UTC|GMT\S*|[A-Z]{3,5})$")


def test_every_time_on_the_page_reads_one_way(app: Flask, browser_page: tuple[Any, str]) -> None:
    page, base_url = browser_page
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "alex@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    select_by_right_click(page, ids[0])
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog", name="Create Case")
    dialog.get_by_label("Title").fill("Orders fail with 500")
    dialog.get_by_role("button", name="Save").click()
    ui.expect(dialog).to_be_hidden()
    page.reload()
    wait_for_script(page)

    times = page.eval_on_selector_all(
        "time", "(els) => els.map((t) => [t.closest('[data-kc-activity], .sidebar, .msg') ? 'ours-or-host' : 'other',"
                " t.textContent.trim(), t.getAttribute('title'), t.getAttribute('datetime')])"
    )
    messages = page.locator(".msg time").count()
    activity = page.locator("[data-kc-activity] time").count()
    assert messages >= len(ids) and activity >= 1
    for _, text, title, moment in times:
        assert SHORT.match(text), f"{text!r} is not in the one format"
        assert title and FULL.search(title), f"{text!r} has no full time on hover: {title!r}"
        assert moment and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", moment), moment
