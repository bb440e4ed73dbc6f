"""The create-case flow in Chromium on a host shaped like an existing ticket system.

The host (tests/hosts/ticket_host.py): opening text on the ticket row, naive
Tokyo times, replies two per page, templates only in a blueprint folder that
is registered after ``init_app`` (with its own ``kroncases/layout.html``),
Bootstrap-like rules on bare elements, a grid-shaped thread, no CSRFProtect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from .browser.pages import browser_on
from .browser.support import screenshot
from .hosts import ticket_host

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

OPENING = "Since the update to v2.3 the export button does nothing (ERR_EXPORT_17)."


@pytest.fixture
def ticket_app(tmp_path: Path) -> Iterator[tuple[Flask, dict[str, int]]]:
    app, _ = ticket_host.make_app(f"sqlite:///{tmp_path / 'tickets.sqlite'}", {}, KRONCASES_JOB_RUNNER="thread")
    db = ticket_host.db
    with app.app_context():
        db.create_all()
        agent = ticket_host.Agent(name="Toni")
        ticket = ticket_host.Ticket(subject="Export broken", body=OPENING, requester="Cy",
                                    created_at=datetime(2024, 3, 1, 18, 0))  # naive Tokyo time
        db.session.add_all([agent, ticket])
        db.session.flush()
        texts = [("Which browser do you use?", True), ("Firefox 128 on Windows.", False),
                 ("Thanks, we can reproduce it.", True), ("Any news?", False)]
        replies = [ticket_host.Reply(ticket_id=ticket.id, text=text, from_staff=staff,
                                     created_at=datetime(2024, 3, 1, 18, 10 * (n + 1)))
                   for n, (text, staff) in enumerate(texts)]
        db.session.add_all(replies)
        db.session.commit()
        keys = {"agent": agent.id, "ticket": ticket.id, **{f"reply{n + 1}": r.id for n, r in enumerate(replies)}}
    yield app, keys
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def select(page: Any, element: Any) -> None:
    element.locator("[data-kc-body]").click(button="right")
    page.get_by_role("menu", name="Message actions").get_by_role("menuitem", name="Select message").click()
    expect(element).to_have_class(re.compile(r"\bkc-selected\b"))


def test_create_a_case_from_the_opening_text_and_a_reply(ticket_app: tuple[Flask, dict[str, int]]) -> None:
    app, keys = ticket_app
    with browser_on(app) as (_, page, base_url):
        page.goto(f"{base_url}/login/{keys['agent']}?next=/tickets/{keys['ticket']}")
        expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)
        opening = page.locator("#opening")
        answer = page.locator(f"#reply-{keys['reply2']}")
        widths = [opening.bounding_box()["width"], answer.bounding_box()["width"]]

        select(page, opening)
        select(page, answer)
        bar = page.get_by_role("region", name="Selected messages")
        expect(bar).to_contain_text("2 messages selected")
        bar.get_by_role("button", name="Create Case").click()
        dialog = page.get_by_role("dialog", name="Create Case")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Title").fill("Export button does nothing since v2.3")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("[data-kc-live]")).to_have_text("Case #1 created from 2 messages.")

        # The opening text and the reply carry the indicator; the panel shows the case with both.
        for element in (opening, answer):
            expect(element.locator("[data-kc-indicator]")).to_have_count(1)
        expect(page.locator("#kc-case-1")).to_contain_text("Export button does nothing since v2.3")
        # The grid rows kept their width after the live update.
        assert [opening.bounding_box()["width"], answer.bounding_box()["width"]] == widths
        screenshot(page, "ticket-host-case-created")

        # The case was created after every reply: its activity shows on the last page only.
        page.goto(f"{base_url}/tickets/{keys['ticket']}?page=1")
        expect(page.locator("[data-kc-activity]")).to_have_count(0)
        expect(page.locator("#opening [data-kc-indicator]")).to_have_count(1)
        page.goto(f"{base_url}/tickets/{keys['ticket']}?page=2")
        created = page.locator("[data-kc-activity]", has_text="Case #1 created by Toni")
        expect(created).to_have_count(1)  # (a summary-written entry follows it, made by the job)

        # The host's own layout frames the extension's pages (its override sits in a blueprint folder).
        page.goto(f"{base_url}/kroncases/cases")
        expect(page.locator("[data-host-layout]")).to_have_count(1)
        expect(page.locator("main")).to_contain_text("Export button does nothing since v2.3")
