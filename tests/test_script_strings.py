"""The scripts' texts come from the page: ``kroncases.assets()`` hands them over as JSON.

The server side is checked against the catalogs (the values are what gettext says
for the agent's locale, placeholders kept for the script to fill). In Chromium,
the page's texts are swapped for marked ones on the way to the browser: every
text the scripts then show or announce carries the mark, which a word of their
own could not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.support import Translations
from flask import Flask, render_template_string, request
from flask_babel import Babel

from flask_kroncases import i18n, templating
from flask_kroncases.i18n import DOMAIN, TRANSLATIONS
from flask_kroncases.script_strings import PLURALS, STRINGS

from .browser.support import CHROMIUM, sign_in
from .support.databases import BROWSER_DATABASES
from .test_i18n import database, host  # noqa: F401  (fixtures: SQLite, the classic host)

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
ELEMENT = re.compile(r'<script type="application/json" id="kc-strings">(.*?)</script>', re.S)


def with_babel(app: Flask) -> None:
    """Flask-Babel with a locale the test sends in a header."""
    Babel(app, locale_selector=lambda: request.headers.get("X-Locale") if request else None)


def handed_over(app: Flask, **headers: str) -> dict[str, Any]:
    """The JSON that ``kroncases.assets()`` puts into the page."""
    with app.test_request_context(headers=headers):
        html = render_template_string("{{ kroncases.assets() }}")
    found = ELEMENT.search(html)
    assert found, html
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_without_babel_the_page_hands_the_scripts_their_english_texts(app: Flask) -> None:
    texts = handed_over(app, **{"X-Locale": "de"})
    assert texts == {
        "locale": "en",
        "strings": STRINGS,
        "plurals": {key: {"one": one, "other": other} for key, (one, other) in PLURALS.items()},
    }


def test_with_babel_every_text_is_in_the_agents_language_with_its_placeholders(app: Flask) -> None:
    with_babel(app)
    texts = handed_over(app, **{"X-Locale": "de"})
    assert texts["locale"] == "de"
    assert texts["strings"].keys() == STRINGS.keys() and texts["plurals"].keys() == PLURALS.keys()
    with app.test_request_context(headers={"X-Locale": "de"}):
        assert texts["strings"] == {key: i18n.gettext(source) for key, source in STRINGS.items()}
        assert texts["plurals"] == {
            key: dict(zip(("one", "other"), i18n.plural_forms(*pair), strict=True)) for key, pair in PLURALS.items()
        }
    for key, source in STRINGS.items():
        assert placeholders(texts["strings"][key]) == placeholders(source), key
    for key, (one, other) in PLURALS.items():
        wanted = placeholders(one) | placeholders(other)
        for form in texts["plurals"][key].values():
            # A singular may spell out "one" instead of %(num)d; nothing else may go missing or appear.
            assert placeholders(form) <= wanted and wanted - placeholders(form) <= {"num"}, (key, form)
    # Texts the catalog already has arrive translated, not in English.
    german = Translations.load(str(TRANSLATIONS), ["de"], DOMAIN)
    for key in ("select_message", "enter_title", "title_too_long", "reason_required"):
        assert texts["strings"][key] == german.gettext(STRINGS[key]) != STRINGS[key], key


def test_plural_forms_are_the_catalogs_forms_with_the_placeholders_left_in(app: Flask) -> None:
    """A pair the German catalog has: both forms, unfilled, for the script to count with."""
    pair = ("Select at most %(num)d message for one case.", "Select at most %(num)d messages for one case.")
    german = Translations.load(str(TRANSLATIONS), ["de"], DOMAIN)
    with app.test_request_context():
        assert i18n.plural_forms(*pair) == pair  # no Flask-Babel: the English source
    with_babel(app)
    with app.test_request_context(headers={"X-Locale": "de"}):
        forms = i18n.plural_forms(*pair)
    assert forms == (german.ngettext(*pair, 1), german.ngettext(*pair, 2)) and forms != pair
    assert all("%(num)d" in form for form in forms)


def test_a_text_cannot_end_the_script_element(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON sits inside <script>: a translation holding ``</script>`` must stay data."""
    hostile = '</script><script>alert("x")</script> & \'quoted\''
    monkeypatch.setitem(STRINGS, "show_case", hostile)
    monkeypatch.setattr(templating, "_SCRIPT_STRINGS", {})  # the JSON is kept per language: make it afresh
    with app.test_request_context():
        html = render_template_string("{{ kroncases.assets() }}")
    found = ELEMENT.search(html)
    assert found and "</script><script>" not in found.group(1)
    assert json.loads(found.group(1))["strings"]["show_case"] == hostile


# -- in Chromium ---------------------------------------------------------------------------------------

MARK = "⟦{}⟧"


def marked(texts: dict[str, Any]) -> dict[str, Any]:
    """Every text of the page wrapped in the mark (placeholders kept, so the scripts still fill them)."""
    return {
        "locale": texts["locale"],
        "strings": {key: MARK.format(text) for key, text in texts["strings"].items()},
        "plurals": {key: {form: MARK.format(text) for form, text in forms.items()} for key, forms in texts["plurals"].items()},
    }


def mark_pages(page: Any) -> None:
    """Swap the texts of every page the browser loads for marked ones."""

    def swap(route: Any) -> None:
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch()
        body = response.text()
        found = ELEMENT.search(body)
        if found:
            swapped = json.dumps(marked(json.loads(found.group(1)))).replace("<", "\\u003c")
            body = body[: found.start(1)] + swapped + body[found.end(1):]
        route.fulfill(response=response, body=body)

    page.route("**/*", swap)


@pytest.fixture(params=BROWSER_DATABASES[:1])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    from .browser.demo import demo_app, demo_database

    config = {"KRONCASES_JOB_RUNNER": "thread", "KRONCASES_WEBHOOK_ALLOW_PRIVATE": ["127.0.0.1/32"]}
    with demo_database(request.param, tmp_path) as url, demo_app(url, config) as app:
        yield app


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_scripts_show_and_announce_only_the_pages_texts(demo: Flask) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    from .browser.pages import browser_on
    from .test_ui_browser import SUBJECT, conversation_and_messages

    _, ids = conversation_and_messages(demo, SUBJECT)
    with browser_on(demo) as (browser, page, base_url):
        sign_in(page, base_url, "alex@example.com")
        mark_pages(page)
        page.goto(f"{base_url}/")
        page.locator(".row", has_text=SUBJECT).click()
        expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)

        # kroncases.js: the hint, the menu, the announcement, the pill, the bar, the form.
        message = page.locator(f"#message-{ids[0]}")
        hint = page.locator("#kc-message-hint")
        expect(hint).to_have_text(MARK.format(STRINGS["message_hint_shortcuts"]))
        message.locator(".msg__body").click(button="right")
        toggle = page.locator("[data-kc-menu-toggle]")
        expect(toggle).to_contain_text(MARK.format("Select message"))
        toggle.click()
        expect(page.locator("[data-kc-live]")).to_have_text(MARK.format("Message selected. 1 message selected."))
        expect(message.locator("[data-kc-mark]")).to_have_text(MARK.format("Selected"))
        expect(page.locator("[data-kc-count-label]")).to_have_text(MARK.format("message selected"))
        page.locator("[data-kc-create]").click()
        dialog = page.locator("[data-kc-case-dialog]")
        expect(dialog.locator("[data-kc-form-selection]")).to_have_text(MARK.format("From 1 selected message"))
        dialog.locator('[data-kc-field="title"]').fill("")
        dialog.locator("[data-kc-save]").click()
        expect(dialog.locator('[data-kc-error-for="title"]')).to_have_text(MARK.format("Enter a title."))
        page.keyboard.press("Escape")

        # cases.js: the bulk bar's count.
        from .test_case_list_browser import make_cases

        make_cases(demo)
        page.goto(f"{base_url}/kroncases/cases")
        page.locator("[data-kc-select]").first.check()
        expect(page.locator("[data-kc-bulk-count]")).to_have_text(MARK.format("1 case selected"))

        # settings.js: the copy button's status, for an admin who just created the webhook.
        admin = browser.new_context()
        admin.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        try:
            page = admin.new_page()
            sign_in(page, base_url, "admin@example.com")
            mark_pages(page)
            page.goto(f"{base_url}/kroncases/settings/integrations/webhooks")
            page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hooks/strings")
            page.get_by_role("button", name="Save").click()
            page.locator("[data-kc-copy]").click()
            expect(page.locator("[data-kc-copy-status]")).to_have_text(MARK.format("Copied"))
        finally:
            admin.close()
