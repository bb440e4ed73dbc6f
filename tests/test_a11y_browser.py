"""Contrast and landmarks, in Debian's Chromium on the demo helpdesk (a real server thread, a fresh database).

- axe (axe-playwright-python) finds no serious or critical issue on the conversation page with
  a selection, the open Create Case form, the open panel with a case, the cases page and the
  settings page (Settings → Integrations → Cases Webhook, as an admin), at 1440 and 390 px;
- the demo's pages have their landmarks: one ``main``, the navigation, and on a conversation
  page the list and the thread inside ``main`` with the details beside it (complementary);
- every state of every control of ours (the extension's and the demo's) is readable: text
  4.5:1 (3:1 when large), borders and focus indicators 3:1 against what is next to them. The
  states are forced with Chromium's DevTools protocol (``CSS.forcePseudoState``: hover, focus,
  focus-visible, active) on each control in turn; the ones a page shows by itself (selected,
  current, invalid, over the title limit, disabled in its menu, busy while a request runs) are
  brought about by using the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from . import test_ui_browser as ui
from .browser.support import screenshot, sign_in
from .support.databases import BROWSER_DATABASES
from .test_ui_browser import (
    conversation_and_messages,
    expect,
    serious_violations,
    settle,
    wait_for_script,
)

app = pytest.fixture(params=BROWSER_DATABASES, name="app")(ui.demo_on_database)
pytestmark = ui.pytestmark

#: The controls of ours: the extension's, then the demo's.
CONTROLS = ", ".join([
    ".kc-btn", ".kc-button", ".kc-icon-btn", ".kc-link", ".kc-refresh", ".kc-input", ".kc-secret", ".kc-menu__item",
    ".kc-quick__link", ".kc-indicator__link", ".kc-indicator__page", ".kc-case__summary-row", ".kc-toast__action",
    ".kc-counter", ".kc-checkbox", ".kc-table__cell a", ".kc-pagination a",
    ".button", ".icon-button", ".row", ".nav__links a", ".nav__brand", ".composer textarea", ".field input", ".msg",
])
PROBE = "data-contrast-probe"

#: What a probed control shows in its present state: text against its background, its border
#: against what is outside it, and (``focused``) its focus indicator. Colours are composited
#: through the ancestors' translucent backgrounds down to the first opaque one.
MEASURE = """([probe, focused]) => {
  const el = document.querySelector(`[${probe}]`);
  if (!el || !el.getClientRects().length || getComputedStyle(el).visibility !== "visible") return [];
  const parse = (value) => {
    const m = /rgba?\\(([^)]*)\\)/.exec(value || "");
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const behind = (node) => {
    const layers = [];
    for (let e = node; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    return layers.reverse().reduce((under, c) => over(c, under), [255, 255, 255, 1]);
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const name = `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} "${(el.innerText || el.value || el.getAttribute("aria-label") || "").trim().replace(/\\s+/g, " ").slice(0, 30)}"`;
  const found = [];
  const check = (what, fg, bg, need) => {
    const r = ratio(fg, bg);
    if (r < need - 0.005) found.push(`${name}: ${what} ${hex(fg)} on ${hex(bg)} is ${r.toFixed(2)}:1, needs ${need}:1`);
  };
  const shown = (node) => { const r = node.getBoundingClientRect(); return r.width > 1 && r.height > 1 && getComputedStyle(node).visibility === "visible"; };
  // Text: the control's own and that of every element in it that holds words.
  const holders = [el, ...el.querySelectorAll("*")].filter((node) => shown(node)
    && [...node.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
  if (el.matches("input, textarea") && el.value) holders.push(el);
  for (const node of new Set(holders)) {
    const style = getComputedStyle(node);
    const bg = behind(node);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    check("text", over(parse(style.color), bg), bg, large ? 3 : 4.5);
  }
  const outside = el.parentElement ? behind(el.parentElement) : [255, 255, 255, 1];
  const own = behind(el);
  const style = getComputedStyle(el);
  // An icon alone (no words): the icon's colour is what identifies the control.
  if (!holders.length && el.querySelector("svg")) check("icon", over(parse(style.color), own), own, 3);
  // Borders: each drawn side against what is outside the control (a message's or a list row's
  // edge is a card's, not a control's: their words tell them apart).
  for (const side of el.matches(".msg, .row") ? [] : ["Top", "Right", "Bottom", "Left"]) {
    const width = parseFloat(style[`border${side}Width`]);
    const color = parse(style[`border${side}Color`]);
    if (width >= 1 && !["none", "hidden"].includes(style[`border${side}Style`]) && color[3] > 0) {
      check(`${side.toLowerCase()} border`, over(color, outside), outside, 3);
    }
  }
  if (focused) {
    // The focus indicator: an outline, else a ring of box-shadow, 2px at least, 3:1 against what it is drawn on.
    const outline = parseFloat(style.outlineWidth);
    if (style.outlineStyle !== "none" && outline >= 2 && parse(style.outlineColor)[3] > 0) {
      const ground = parseFloat(style.outlineOffset) < 0 ? own : outside;
      check("focus outline", over(parse(style.outlineColor), ground), ground, 3);
    } else {
      const rings = [...style.boxShadow.matchAll(/(rgba?\\([^)]*\\))\\s+(-?[\\d.]+)px\\s+(-?[\\d.]+)px\\s+(-?[\\d.]+)px\\s+(-?[\\d.]+)px(\\s+inset)?/g)]
        .filter((m) => Number(m[5]) >= 2 && parse(m[1])[3] > 0);
      if (!rings.length) found.push(`${name}: no focus indicator (outline ${style.outlineStyle} ${style.outlineWidth}, box-shadow ${style.boxShadow})`);
      for (const m of rings) {
        const ground = m[6] ? own : outside;
        check("focus ring", over(parse(m[1]), ground), ground, 3);
      }
    }
  }
  return found;
}"""

STATES: list[tuple[str, list[str]]] = [
    ("rest", []), ("hover", ["hover"]), ("focus", ["focus", "focus-visible"]), ("active", ["hover", "active"]),
]


def contrast_failures(page: Any, where: str, only: str | None = None) -> list[str]:
    """Probe each visible control of ours (or those matching ``only``) in each state; describe what falls short."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": only or CONTROLS})["nodeIds"]
    failures: list[str] = []
    try:
        for node in nodes:
            cdp.send("DOM.setAttributeValue", {"nodeId": node, "name": PROBE, "value": ""})
            for state, pseudo in STATES:
                cdp.send("CSS.forcePseudoState", {"nodeId": node, "forcedPseudoClasses": pseudo})
                for problem in page.evaluate(MEASURE, [PROBE, state == "focus"]):
                    failures.append(f"{where}, {state}: {problem}")
            cdp.send("CSS.forcePseudoState", {"nodeId": node, "forcedPseudoClasses": []})
            cdp.send("DOM.removeAttribute", {"nodeId": node, "name": PROBE})
    finally:
        cdp.detach()
    return sorted(set(failures))


@pytest.fixture
def page_at(app: Flask, width: int) -> Iterator[tuple[Any, str]]:
    with ui.page_on(app, width, 844 if width < 700 else 900) as opened:
        yield opened


def open_panel(page: Any) -> None:
    sidebar = page.locator("#sidebar")
    if not sidebar.is_visible():
        page.get_by_role("button", name="Customer details and support cases").click()
    expect(sidebar).to_be_visible()
    case = page.locator("#kc-case-1")
    if case.get_attribute("open") is None:
        case.locator("summary").click()
    expect(case.get_by_role("button", name="Resolve")).to_be_visible()


@pytest.mark.parametrize("width", [1440, 390])
def test_axe_finds_nothing_serious_and_the_landmarks_are_there(app: Flask, page_at: tuple[Any, str], width: int) -> None:
    page, base_url = page_at
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "admin@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)

    # Landmarks: one main holding the list and the thread, the navigation, the details beside main.
    main = page.get_by_role("main")
    expect(main).to_have_count(1)
    expect(page.get_by_role("navigation", name="Main")).to_have_count(1)
    # (A phone shows the thread alone; the list is one link away.)
    expect(main.get_by_role("region", name="Inbox")).to_have_count(1 if width > 700 else 0)
    expect(main.get_by_role("region", name=ui.SUBJECT)).to_have_count(1)
    expect(main.get_by_role("region", name="Selected messages")).to_have_count(0)

    # The conversation with a selection (the action bar's region joins main's thread).
    for key in ("j", "x", "j", "x"):
        page.keyboard.press(key)
    expect(main.get_by_role("region", name="Selected messages")).to_contain_text("2 messages selected")
    settle(page)
    assert serious_violations(page) == [], "conversation with a selection"

    # The open Create Case form.
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    settle(page)
    assert serious_violations(page) == [], "the open case form"
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    # The panel, open on the new case.
    open_panel(page)
    expect(page.get_by_role("complementary", name="Conversation details")).to_be_visible()
    settle(page)
    assert serious_violations(page) == [], "the panel"
    screenshot(page, f"a11y-{width}-panel")

    # The cases page and the settings page, in the demo's frame: main and the navigation again.
    for path, what in (("/kroncases/cases", "cases page"), ("/kroncases/settings/", "settings page")):
        page.goto(f"{base_url}{path}")
        expect(page.get_by_role("main")).to_have_count(1)
        expect(page.get_by_role("navigation", name="Main")).to_have_count(1)
        settle(page)
        assert serious_violations(page) == [], what
        screenshot(page, f"a11y-{width}-{what.replace(' ', '-')}")


@pytest.mark.parametrize("width", [1440])
def test_every_state_of_every_control_of_ours_contrasts(app: Flask, page_at: tuple[Any, str], width: int) -> None:
    page, base_url = page_at
    conversation_id, ids = conversation_and_messages(app)
    sign_in(page, base_url, "admin@example.com")
    page.goto(f"{base_url}/conversations/{conversation_id}")
    wait_for_script(page)
    failures: list[str] = []

    # The conversation with a selection: the action bar, the messages (one selected), list and nav.
    for key in ("j", "x", "j"):
        page.keyboard.press(key)
    settle(page)
    failures += contrast_failures(page, "conversation")

    # The case form, its title over the limit (counter and field in their warning state), then busy.
    page.keyboard.press("x")
    page.keyboard.press("c")
    dialog = page.get_by_role("dialog", name="Create Case")
    expect(dialog.locator("[data-kc-suggest-status]")).not_to_have_text(re.compile("Suggesting"), timeout=15000)
    title = dialog.get_by_label("Title")
    suggested = title.input_value()
    title.fill("x" * 81)
    dialog.get_by_role("button", name="Save").click()
    expect(title).to_have_attribute("aria-invalid", "true")
    settle(page)
    failures += contrast_failures(page, "case form, title too long")
    title.fill(suggested)
    held: list[Any] = []
    page.route(re.compile(r".*/case-form$"), lambda route: held.append(route))
    dialog.get_by_role("button", name="Save").click()
    busy = dialog.get_by_role("button", name="Saving…")
    expect(busy).to_be_disabled()
    failures += contrast_failures(page, "case form, saving", only="[data-kc-save]")
    for route in held:
        route.continue_()
    page.unroute(re.compile(r".*/case-form$"))
    expect(dialog).to_be_hidden()

    # The toast with its action, the panel with the case, a panel button while it works.
    toast = page.locator(".kc-toast")
    expect(toast.get_by_role("button", name="Show case")).to_be_visible()
    failures += contrast_failures(page, "toast", only=".kc-toast__action")
    open_panel(page)
    settle(page)
    failures += contrast_failures(page, "panel")
    held.clear()
    page.route(re.compile(r".*/api/cases/1/status$"), lambda route: held.append(route))
    page.locator("#kc-case-1").get_by_role("button", name="Mark pending").click()
    expect(page.locator("#kc-case-1").get_by_role("button", name="Working…")).to_be_disabled()
    failures += contrast_failures(page, "panel, working", only="[data-kc-action][disabled]")
    for route in held:
        route.continue_()
    page.unroute(re.compile(r".*/api/cases/1/status$"))
    expect(page.locator("#kc-case-1 .kc-case__pills")).to_contain_text("Pending")

    # The context menu on a message already in a case: its first item is disabled.
    page.locator(f"#message-{ids[0]} .msg__body").click(button="right")
    menu = page.get_by_role("menu", name="Message actions")
    expect(menu.get_by_role("menuitem", name=re.compile("Select message"))).to_have_attribute("aria-disabled", "true")
    failures += contrast_failures(page, "context menu", only=".kc-menu__item")
    page.keyboard.press("Escape")

    # The cases page (a quick filter is current) and the settings page.
    page.goto(f"{base_url}/kroncases/cases")
    expect(page.locator("tr[data-case-id]")).to_have_count(1)
    failures += contrast_failures(page, "cases page")
    page.goto(f"{base_url}/kroncases/settings/")
    failures += contrast_failures(page, "settings page")

    assert failures == [], "\n".join(failures)
