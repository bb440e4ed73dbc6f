"""The reports page in Debian's Chromium: the demo's seeded cases, charted and tabled, and accessible.

The demo helpdesk runs with its example cases (``DEMO_CASES``) on a fresh
database, on a real server thread. An agent opens Reports from the navigation;
the tiles, the charts' descriptions and the tables show what the report service
counts for them; axe finds no serious or critical issue; bars stand out from the
card by 3:1 and chart text by 4.5:1. A screenshot goes to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from examples.host_app import cases, create_app
from examples.host_app.models import User, db

from .browser.support import CHROMIUM, launch, live_server, screenshot, sign_in
from .support.databases import BROWSER_DATABASES, POSTGRES_URL, postgres_schema, search_path

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

#: The WCAG contrast ratio of two computed colours ("rgb(r, g, b)"), worked out in the page.
CONTRAST = """([fg, bg]) => {
  const channels = (css) => css.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (css) => {
    const [r, g, b] = channels(css).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture(params=BROWSER_DATABASES)
def app(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Flask]:
    config: dict[str, Any] = {"TESTING": True, "SECRET_KEY": "browser-test", "DEMO_CASES": True}
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
            db.session.remove()
            db.engine.dispose()


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def color(page: Any, selector: str, prop: str) -> str:
    return str(page.locator(selector).first.evaluate(f"(el) => getComputedStyle(el).{prop}"))


@pytest.mark.parametrize("email", ["alex@example.com", "admin@example.com"])
def test_reports_page_shows_the_seed_figures_accessibly(app: Flask, email: str) -> None:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        report = cases.report(user)
        db.session.remove()
    assert report.created_total > 0 and report.resolved_total > 0 and report.overdue > 0  # the seed shows

    with live_server(app) as base_url, playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            sign_in(page, base_url, email)
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
            page.wait_for_url(f"{base_url}/kroncases/reports")
            expect(page.get_by_role("heading", level=1, name="Reports")).to_be_visible()
            expect(page.get_by_role("link", name="Reports")).to_have_attribute("aria-current", "page")

            # Tiles.
            for tile, value in (("open", report.open_total), ("overdue", report.overdue),
                                ("created", report.created_total), ("resolved", report.resolved_total)):
                expect(page.locator(f"[data-kc-tile={tile}] .kc-reports__figure")).to_have_text(str(value))
            overdue_link = page.get_by_role("link", name="Show the overdue cases")
            expect(overdue_link).to_have_attribute("href", "/kroncases/cases?overdue=1")

            # Charts: images named by their titles, described by their figures.
            for name in ("Open cases by status", "Open cases by type", "Open cases by priority"):
                expect(page.get_by_role("img", name=name)).to_be_visible()
            by_type = page.get_by_role("img", name="Open cases by type")
            expect(by_type).to_have_accessible_description(
                "; ".join(f"{c.label}: {c.count}" for c in report.by_type) + ".")
            days_chart = page.get_by_role("img", name="Cases created and resolved per day, last 30 days (UTC)")
            expect(days_chart).to_be_visible()
            expect(days_chart).to_contain_text(f"{report.created_total} created and {report.resolved_total} resolved")
            drawn = page.locator("#kc-report-days-chart .kc-chart__bar")
            expect(drawn).to_have_count(sum(1 for d in report.days if d.created) + sum(1 for d in report.days if d.resolved))
            expect(page.get_by_role("img", name="Median time to resolve by priority, last 30 days")).to_be_visible()

            # Tables: the same figures, for screen readers and for copying.
            for caption, counts in (("Open cases by status", report.by_status), ("Open cases by type", report.by_type),
                                    ("Open cases by priority", report.by_priority)):
                grid = page.get_by_role("table", name=caption)
                for c in counts:
                    expect(grid.get_by_role("row", name=c.label)).to_contain_text(str(c.count))
            per_day = page.get_by_role("table", name="Cases created and resolved per day, last 30 days (UTC)")
            expect(per_day.locator("tbody tr")).to_have_count(30)
            for d in report.days:
                cells = per_day.locator(f'tr[data-kc-day="{d.day.isoformat()}"] td')
                expect(cells).to_have_text([str(d.created), str(d.resolved)])
            medians = page.get_by_role("table", name="Median time to resolve by priority, last 30 days")
            for t in report.resolve_times:
                expect(medians.locator(f'tr[data-kc-key="{t.key}"] td').nth(1)).to_have_text(str(t.cases))

            # Contrast: bars 3:1 against the card, chart text 4.5:1; the resolved series is also striped.
            card = color(page, "[data-kc-report=kc-report-days]", "backgroundColor")
            bar = color(page, "#kc-report-days-chart .kc-chart__bar:not(.kc-chart__bar--resolved)", "fill")
            outline = color(page, "#kc-report-days-chart .kc-chart__bar--resolved", "stroke")
            stripe = color(page, ".kc-chart__hatch-line", "fill")
            assert page.evaluate(CONTRAST, [bar, card]) >= 3
            assert page.evaluate(CONTRAST, [outline, card]) >= 3 and page.evaluate(CONTRAST, [stripe, card]) >= 3
            for text in (".kc-chart__tick", ".kc-chart__label", ".kc-chart__value"):
                assert page.evaluate(CONTRAST, [color(page, text, "fill"), card]) >= 4.5, text
            assert "url(" in color(page, "#kc-report-days-chart .kc-chart__bar--resolved", "fill")

            assert serious_violations(page) == []
            screenshot(page, f"reports-{app.config['DB_NAME']}-{email.split('@')[0]}")

            # The overdue tile's link: the cases page, filtered to the same cases.
            overdue_link.click()
            page.wait_for_url(f"{base_url}/kroncases/cases?overdue=1")
            expect(page.locator("tr[data-case-id]")).to_have_count(report.overdue)
        finally:
            browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"
