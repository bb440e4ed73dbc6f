"""The cases page in Chromium: select with the keyboard, bulk-resolve, read the results, download the CSV.

The demo helpdesk on a real server thread and a fresh database (a SQLite file,
or a PostgreSQL schema of its own); axe checks the page before and after a
bulk change. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import csv
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

TITLES = ["Refund the duplicate charge", "=HYPERLINK(\"http://evil.example\")", "Unlock the account",
          "Export button does nothing"]


@pytest.fixture(params=BROWSER_DATABASES)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    with demo_database(request.param, tmp_path) as url, demo_app(url, {"KRONCASES_JOB_RUNNER": "thread"}) as app:
        yield app


def make_cases(app: Flask) -> list[int]:
    """Four open cases in the support team's conversations (Alex's), one per conversation."""
    from examples.host_app import cases
    from examples.host_app.models import Conversation, User, db

    with app.app_context():
        alex = db.session.scalar(sa.select(User).where(User.email == "alex@example.com"))
        conversations = db.session.scalars(
            sa.select(Conversation).where(Conversation.team == "support").order_by(Conversation.id).limit(len(TITLES))
        ).all()
        ids = [cases.create_case(c, [c.messages[0]], title=t, by=alex).id
               for c, t in zip(conversations, TITLES, strict=True)]
        db.session.remove()
        return ids


def statuses(app: Flask) -> dict[int, str]:
    from examples.host_app import cases
    from examples.host_app.models import db

    with app.app_context():
        Case = cases.models.Case
        found = {row.id: row.status for row in db.session.execute(sa.select(Case.id, Case.status))}
        db.session.remove()
        return found


def settle(page: Any) -> None:
    """Let transitions finish: half-faded text would fail the contrast rule."""
    page.evaluate("""() => Promise.all(document.getAnimations()
        .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
        .map((a) => a.finished.catch(() => null)))""")


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_bulk_resolve_three_cases_with_the_keyboard(app: Flask) -> None:
    first, second, third, fourth = make_cases(app)
    with browser_on(app) as (_browser, page, base_url):
        sign_in(page, base_url, "alex@example.com")
        page.goto(f"{base_url}/kroncases/cases")
        rows = page.locator("tr[data-case-id]")
        expect(rows).to_have_count(4)
        settle(page)
        assert serious_violations(page) == []

        # "Select all on this page" (the script shows it), by keyboard; then leave one out.
        select_all = page.get_by_role("checkbox", name="Select all cases on this page")
        expect(select_all).to_be_visible()
        select_all.focus()
        page.keyboard.press("Space")
        count = page.locator("[data-kc-bulk-count]")
        expect(count).to_have_text("4 cases selected")
        page.get_by_role("checkbox", name=f"Select case #{second}", exact=True).focus()
        page.keyboard.press("Space")
        expect(count).to_have_text("3 cases selected")
        assert select_all.evaluate("(box) => box.indeterminate") is True

        page.get_by_label("With the selected cases").select_option(label="Resolve")
        page.get_by_role("button", name="Change selected cases").focus()
        page.keyboard.press("Enter")

        page.wait_for_url(re.compile(r"/kroncases/cases(\?[^#]*)?#kc-bulk-results$"))
        results = page.get_by_role("region", name="3 of 3 cases changed")
        expect(results).to_be_visible()
        expect(results).to_be_focused()
        # One line per case, in the order of the page (most recently updated first).
        expect(results.get_by_role("listitem")).to_have_text(
            [re.compile(rf"Done Case #{n}: resolved$") for n in (fourth, third, first)])
        for n in (first, third, fourth):
            expect(page.locator(f'tr[data-case-id="{n}"]')).to_contain_text("Resolved")
        expect(page.locator(f'tr[data-case-id="{second}"]')).to_contain_text("Open")
        assert statuses(app) == {first: "resolved", second: "open", third: "resolved", fourth: "resolved"}
        settle(page)
        assert serious_violations(page) == []
        screenshot(page, "cases-page-bulk-results")

        # Again on all four: the three resolved ones are reported, the fourth changes.
        select_all.check()
        page.get_by_label("With the selected cases").select_option(label="Resolve")
        page.get_by_role("button", name="Change selected cases").click()
        results = page.get_by_role("region", name="1 of 4 cases changed")
        expect(results.get_by_role("listitem")).to_have_count(4)
        for line in (f"Done Case #{second}: resolved", *(f"Not changed Case #{n}: already resolved"
                                                          for n in (first, third, fourth))):
            expect(results.get_by_role("listitem").filter(has_text=line)).to_have_count(1)

        # Nothing selected: the script says so and sends nothing.
        page.get_by_label("With the selected cases").select_option(label="Reopen (resolved cases)")
        page.get_by_role("button", name="Change selected cases").click()
        expect(count).to_have_text("Select at least one case first.")
        assert statuses(app)[first] == "resolved"


def test_assign_to_me_and_download_the_csv(app: Flask) -> None:
    ids = make_cases(app)
    with browser_on(app) as (_browser, page, base_url):
        sign_in(page, base_url, "alex@example.com")
        page.goto(f"{base_url}/kroncases/cases")
        page.get_by_role("button", name=f"Assign case #{ids[2]} to me").click()
        expect(page.get_by_role("region", name="1 of 1 case changed")).to_contain_text(
            f"Case #{ids[2]}: assigned to you")
        expect(page.locator(f'tr[data-case-id="{ids[2]}"]')).to_contain_text("Alex Morgan (you)")
        page.get_by_role("link", name="Mine").click()
        expect(page.locator("tr[data-case-id]")).to_have_count(1)

        page.get_by_role("link", name="All cases").click()
        with page.expect_download() as waiting:
            page.get_by_role("link", name=re.compile("Export CSV")).click()
        download = waiting.value
        assert re.fullmatch(r"support-cases-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
        text = Path(download.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.reader(text.splitlines()))
        assert rows[0][:6] == ["id", "title", "type", "priority", "status", "owner"]
        assert [int(row[0]) for row in rows[1:]] == ids
        by_id = {int(row[0]): row for row in rows[1:]}
        assert by_id[ids[0]][1] == TITLES[0]
        assert by_id[ids[1]][1] == "'" + TITLES[1]  # a formula is never a formula in the file
        assert by_id[ids[2]][5] == "Alex Morgan" and by_id[ids[3]][5] == ""
        assert by_id[ids[0]][11].endswith(f"/kroncases/cases/{ids[0]}")
