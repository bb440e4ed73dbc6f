"""The extension's styles neither leak into a host's page nor give way to it, in Chromium.

``tests/hosts/grid_host`` is a small helpdesk wired as the README says, whose pages load
Bootstrap-style rules on bare ``header``, ``footer``, ``li``, ``code``, ``h2`` ... and a ``.row``
grid *after* ``kroncases.css``; its thread is one ``<div class="row">`` per message with ``col-*``
children and ``data-kc-thread`` on their parent, and each message has edit/delete buttons at its
top right. The test reads the computed styles of the extension's elements (panel, Create Case
dialog, action bar, thread entries, cases page) on each page with and without those host rules
(``?plain=1``) and wants them identical; it creates a case live and wants the grid rows intact
and every message as wide as before; and the *Selected* pill may not overlap the host's buttons.

A static part checks the stylesheet itself: every rule's subject is one of our ``kc-`` classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string

from .browser.support import CHROMIUM, launch, live_server, screenshot
from .hosts import grid_host

CSS = Path(__file__).resolve().parents[1] / "flask_kroncases" / "static" / "kroncases" / "kroncases.css"

PROPS = [
    "display", "position", "float", "width", "list-style-type", "box-sizing",
    "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border-top-width", "border-right-width", "border-bottom-width", "border-left-width", "border-top-style",
    "background-color", "background-image", "color", "box-shadow",
    "font-size", "font-weight", "font-style", "font-family", "line-height", "letter-spacing", "text-transform", "text-align",
]

CONVERSATION_PARTS = [
    ".kc-panel", ".kc-panel__head", ".kc-panel__title", ".kc-count", ".kc-empty", ".kc-empty .kc-strong",
    ".kc-panel__foot", ".kc-panel__foot .kc-link",
    "[data-kc-case-dialog]", "[data-kc-case-dialog] .kc-dialog__head", "[data-kc-case-dialog] .kc-dialog__title",
    "[data-kc-case-dialog] .kc-dialog__sub", "[data-kc-case-dialog] .kc-dialog__body", "[data-kc-case-dialog] .kc-dialog__foot",
    "[data-kc-case-dialog] .kc-label", "#kc-case-title", "#kc-case-type", "#kc-case-summary", "[data-kc-counter]",
    "[data-kc-case-dialog] [data-kc-close]", "[data-kc-case-dialog] [data-kc-save]",
    "[data-kc-escalate-dialog] .kc-dialog__head", "[data-kc-escalate-dialog] .kc-dialog__title",
    "[data-kc-escalate-dialog] .kc-help", "[data-kc-escalate-dialog] .kc-code", "[data-kc-escalate-dialog] .kc-dialog__foot",
    ".kc-actionbar", ".kc-actionbar .kc-kbd", "[data-kc-create]", ".kc-menu", ".kc-menu__item", ".kc-menu__hint",
    ".kc-selection-mark",
]
CASE_PARTS = [
    ".kc-case", ".kc-case__summary-row", ".kc-case__id", ".kc-case__title", ".kc-case__pills .kc-pill",
    ".kc-case__meta", ".kc-case__term", ".kc-case__value", ".kc-case__label", ".kc-case__summary", ".kc-case__actions .kc-btn",
    ".kc-activity", ".kc-activity__icon", ".kc-activity__text", ".kc-activity__time",
    ".kc-indicator-slot", ".kc-indicator__link", ".kc-tooltip",
]
CASES_PAGE_PARTS = [
    ".kc-cases__head", ".kc-cases__title", ".kc-cases__lead", ".kc-filters", ".kc-filters .kc-label", "#kc-filter-q",
    "#kc-filter-status", ".kc-filters .kc-button", ".kc-table", ".kc-table__heading", ".kc-table__cell",
    ".kc-cases__title-cell", ".kc-table__cell .kc-pill", ".kc-priority", ".kc-time",
    ".kc-quick", ".kc-quick__link", ".kc-filters__check", ".kc-filters__check .kc-checkbox", ".kc-bulk", ".kc-bulk__form",
    "#kc-bulk-action", ".kc-bulk__form .kc-button", ".kc-bulk__count", ".kc-bulk__export", ".kc-cases__select",
    ".kc-cases__select .kc-checkbox", ".kc-cases__take .kc-button",
]

MEASURE = """([selectors, props]) => {
  const out = {};
  for (const selector of selectors) {
    const el = document.querySelector(selector);
    if (!el) { out[selector] = null; continue; }
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    const values = { "box-width": Math.round(box.width * 10) / 10, "box-height": Math.round(box.height * 10) / 10 };
    for (const prop of props) values[prop] = style.getPropertyValue(prop);
    out[selector] = values;
  }
  return out;
}"""

GRID = """() => Array.from(document.querySelectorAll("[data-row-of]")).map((row) => ({
  row: row.dataset.rowOf,
  parentIsThread: row.parentElement.hasAttribute("data-kc-thread"),
  width: Math.round(row.getBoundingClientRect().width * 10) / 10,
  children: Array.from(row.children).map((c) => [
    Array.from(c.classList).filter((name) => !name.startsWith("kc-")).join(" "),  // not the script's state classes
    Math.round(c.getBoundingClientRect().width * 10) / 10]),
}))"""

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


# -- the stylesheet itself ------------------------------------------------------------------

def _rules(css: str) -> list[tuple[str, str]]:
    """(selector list, declarations) of every style rule, @media blocks opened, @keyframes skipped."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: list[tuple[str, str]] = []
    pos = 0
    while True:
        brace = css.find("{", pos)
        if brace < 0:
            return rules
        head = css[pos:brace].strip()
        if head.startswith("@keyframes"):
            depth, i = 1, brace + 1
            while depth:
                depth += {"{": 1, "}": -1}.get(css[i], 0)
                i += 1
            pos = i
        elif head.startswith("@media") or head.startswith("@supports"):
            pos = brace + 1
        else:
            end = css.index("}", brace)
            rules.append((head.lstrip("}").strip(), css[brace + 1:end]))
            pos = end + 1


def _subject(selector: str) -> str:
    """The rightmost compound selector (what the rule styles), pseudo-elements dropped."""
    compound = re.split(r"\s*[>+~]\s*|\s+", selector.strip())[-1]
    return compound.split("::")[0]


# Markup that other tests read verbatim keeps an element without a class of its own; its rule is
# scoped by the class of its cell. Nothing else may name an element type.
PINNED = {".kc-delivery__event > code"}


def test_every_rule_is_scoped_to_our_classes_and_never_to_a_bare_element() -> None:
    rules = _rules(CSS.read_text())
    assert len(rules) > 100
    for selectors, declarations in rules:
        for selector in (s.strip() for s in selectors.split(",")):
            if selector == ":where(:root)":
                names = [d.split(":")[0].strip() for d in declarations.split(";") if d.strip()]
                assert all(n.startswith("--kc-") for n in names), f"{selector} may only define --kc-* properties"
                continue
            if selector in PINNED:
                continue
            assert re.search(r"\.kc-[\w-]", _subject(selector)), (
                f"{selector!r} styles something that is not one of our kc- elements")
            assert not re.search(r"(^|[\s>+~(,])[a-z][a-z0-9]*(?=[.#:\[\s>+~)]|$)", selector.replace("::", "\0")
                                 .split("\0")[0]), f"{selector!r} names an element type"
            assert "#" not in selector and "!important" not in declarations, selector
    # The only rules on the host's own message element: the script's state classes, paint only.
    for selectors, declarations in rules:
        for selector in selectors.split(","):
            if "[data-kc-message]" in selector:
                assert re.search(r"\.kc-(selected|menu-target|target)\b", selector), selector
                names = {d.split(":")[0].strip() for d in declarations.split(";") if d.strip()}
                assert names <= {"outline", "outline-offset", "outline-width", "box-shadow", "animation"}, (selector, names)


def test_activity_entries_take_the_configured_element(tmp_path: Path) -> None:
    app, cases = grid_host.create_app(f"sqlite:///{tmp_path / 'tag.sqlite'}")
    keys = grid_host.seed(app)
    template = "{% for item in kroncases.thread(c, ms) %}{% if not item.is_message %}{{ item.activity }}{% endif %}{% endfor %}"
    with app.test_request_context():
        db, models = grid_host.db, grid_host
        conversation = db.session.get(models.Conversation, keys["conversation"])
        messages = [db.session.get(models.Message, k) for k in keys["messages"]]
        agent = db.session.get(models.User, keys["agent"])
        cases.create_case(conversation, messages[:1], title="Visa declined", by=agent)
        as_div = render_template_string(template, c=conversation, ms=messages)
        app.config["KRONCASES_ACTIVITY_TAG"] = "li"
        as_li = render_template_string(template, c=conversation, ms=messages)
        db.session.remove()
    with pytest.raises(ValueError, match="KRONCASES_ACTIVITY_TAG"):  # refused when the app starts
        grid_host.create_app(f"sqlite:///{tmp_path / 'bad.sqlite'}", KRONCASES_ACTIVITY_TAG="section")
    assert re.match(r'\s*<div class="kc-activity kc-activity--created"', as_div) and as_div.rstrip().endswith("</div>")
    assert re.match(r'\s*<li class="kc-activity kc-activity--created"', as_li) and as_li.rstrip().endswith("</li>")


# -- in the browser -------------------------------------------------------------------------------

@pytest.fixture
def grid(tmp_path: Path) -> Iterator[tuple[Flask, dict[str, Any]]]:
    app, _ = grid_host.create_app(f"sqlite:///{tmp_path / 'grid.sqlite'}", TESTING=True)
    keys = grid_host.seed(app)
    yield app, keys
    with app.app_context():
        grid_host.db.session.remove()
        grid_host.db.engine.dispose()


def _measure(page: Any, selectors: list[str]) -> dict[str, Any]:
    found = page.evaluate(MEASURE, [selectors, PROPS])
    missing = [s for s, v in found.items() if v is None]
    assert not missing, f"not on the page: {missing}"
    return found


def _differences(plain: dict[str, Any], hosted: dict[str, Any]) -> list[str]:
    return [
        f"{selector} {prop}: {plain[selector][prop]!r} alone, {hosted[selector][prop]!r} under the host's rules"
        for selector in plain for prop in plain[selector] if plain[selector][prop] != hosted[selector][prop]
    ]


def _intersects(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def _settle(page: Any) -> None:
    page.evaluate("""() => Promise.all(document.getAnimations()
        .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
        .map((a) => a.finished.catch(() => null)))""")


def _open_case_form(page: Any, url: str, message_id: int) -> None:
    """Open the conversation, select a message by right-click, open Create Case; wait for its suggestion."""
    page.goto(url)
    expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)
    page.locator(f"#message-{message_id} .msg-body").click(button="right")
    page.get_by_role("menu", name="Message actions").get_by_role("menuitem", name="Select message").click()
    expect(page.locator(f"#message-{message_id} .kc-selection-mark")).to_be_visible()
    page.get_by_role("button", name="Create Case").click()
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-kc-suggest-status]")).to_have_attribute("data-state", "done", timeout=15000)
    _settle(page)


def _serious_violations(page: Any, include: list[list[str]]) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context={"include": include})
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_host_rules_on_bare_elements_neither_restyle_the_extension_nor_break_the_grid(grid: tuple[Flask, dict[str, Any]]) -> None:
    app, keys = grid
    first = keys["messages"][0]
    with live_server(app) as base, playwright_api.sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{base}/login-as/{keys['agent']}")
            conversation = f"{base}/conversations/{keys['conversation']}"

            # 1. Panel, dialogs, action bar, menu and the Selected pill: alone, then under the host's rules.
            _open_case_form(page, f"{conversation}?plain=1", first)
            plain = _measure(page, CONVERSATION_PARTS)
            _open_case_form(page, conversation, first)
            assert page.evaluate("() => getComputedStyle(document.querySelector('.site-head')).backgroundImage").startswith(
                "linear-gradient"), "the host's rules did not load"
            hosted = _measure(page, CONVERSATION_PARTS)
            screenshot(page, "grid-host-case-form")
            assert (diff := _differences(plain, hosted)) == [], '\n'.join(diff)
            head, title = hosted[".kc-panel__head"], hosted[".kc-panel__title"]
            assert head["background-image"] == "none" and head["background-color"] == "rgba(0, 0, 0, 0)"
            assert head["color"] == "rgb(29, 37, 48)" and head["padding-top"] == head["padding-left"] == "0px"
            assert title["font-size"] == "16px" and title["text-transform"] == "none"
            dialog_head = hosted["[data-kc-case-dialog] .kc-dialog__head"]
            assert dialog_head["background-image"] == "none" and dialog_head["color"] == "rgb(29, 37, 48)"
            assert dialog_head["padding-left"] == "20px"
            assert hosted["[data-kc-case-dialog] .kc-dialog__title"]["font-size"] == "18.4px"
            assert hosted["[data-kc-case-dialog] .kc-dialog__foot"]["background-image"] == "none"
            assert hosted["[data-kc-escalate-dialog] .kc-code"]["color"] != "rgb(232, 62, 140)"
            assert hosted[".kc-menu__item"]["float"] == "none" and hosted[".kc-menu__item"]["background-color"] == "rgba(0, 0, 0, 0)"

            # 2. The Selected pill sits in the message's flow, clear of the host's edit/delete buttons.
            pill = page.locator(f"#message-{first} .kc-selection-mark").bounding_box()
            tools = page.locator(f"[data-tools-of='{first}']").bounding_box()
            message = page.locator(f"#message-{first}").bounding_box()
            assert not _intersects(pill, tools), (pill, tools)
            assert message["x"] <= pill["x"] and pill["x"] + pill["width"] <= message["x"] + message["width"]
            assert page.locator(f"#message-{first} .msg-meta > .kc-selection-mark").count() == 1

            # 3. Save: the new activity entry goes into the host's thread, between its rows; no row changes.
            before = page.evaluate(GRID)
            assert all(r["parentIsThread"] and [c[0] for c in r["children"]] == ["col-2 author", "col msg"] for r in before)
            page.get_by_role("dialog", name="Create Case").get_by_role("button", name="Save").click()
            expect(page.get_by_role("dialog", name="Create Case")).to_be_hidden()
            entry = page.locator("[data-kc-activity]")
            expect(entry).to_have_count(1)
            expect(entry).to_contain_text("Case #1 created by Gina Grid")
            expect(page.locator(f"#message-{first} .kc-indicator__link")).to_be_visible()
            _settle(page)
            assert page.evaluate(GRID) == before
            placed = entry.evaluate("""(el) => ({ tag: el.tagName, inThread: el.parentElement.hasAttribute("data-kc-thread"),
                after: el.previousElementSibling && el.previousElementSibling.dataset.rowOf,
                float: getComputedStyle(el).float, width: el.getBoundingClientRect().width,
                threadWidth: el.parentElement.clientWidth - parseFloat(getComputedStyle(el.parentElement).paddingLeft)
                             - parseFloat(getComputedStyle(el.parentElement).paddingRight) })""")
            assert placed["tag"] == "DIV" and placed["inThread"] and placed["after"] == str(keys["messages"][-1])
            assert placed["float"] == "none" and abs(placed["width"] - placed["threadWidth"]) < 1
            screenshot(page, "grid-host-after-save")
            assert _serious_violations(page, [["[data-kc-thread]"], [".kc-panel"]]) == []

            # 4. The panel with a case, the server-rendered entry and the indicator: alone, then hosted.
            page.goto(f"{conversation}?plain=1")
            expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)
            plain = _measure(page, CASE_PARTS)
            page.goto(conversation)
            expect(page.locator("[data-kc-root][data-kc-ready]")).to_have_count(1)
            hosted = _measure(page, CASE_PARTS)
            assert (diff := _differences(plain, hosted)) == [], '\n'.join(diff)
            assert page.evaluate(GRID) == before

            # 5. The cases page, framed by the host's layout.
            page.goto(f"{base}/kroncases/cases?plain=1")
            expect(page.locator("tr[data-case-id]")).to_have_count(1)
            plain = _measure(page, CASES_PAGE_PARTS)
            page.goto(f"{base}/kroncases/cases")
            expect(page.locator("tr[data-case-id]")).to_have_count(1)
            hosted = _measure(page, CASES_PAGE_PARTS)
            screenshot(page, "grid-host-cases-page")
            assert (diff := _differences(plain, hosted)) == [], '\n'.join(diff)
            assert hosted[".kc-cases__head"]["background-image"] == "none"
            assert hosted[".kc-cases__title"]["text-transform"] == "none"
        finally:
            context.close()
            browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
