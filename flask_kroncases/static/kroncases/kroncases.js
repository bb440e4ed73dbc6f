// flask-kroncases: select messages, create a case, act on cases, all without a reload.
// Plain JavaScript, no framework, no build step. The page gives it:
//   - message elements with data-kc-message="<id>" (kroncases.message_attrs),
//   - one [data-kc-root] with the URLs, the menu, the action bar and the dialogs
//     (kroncases.case_form), and the Support Cases panel [data-kc-panel] (kroncases.panel),
//   - optionally [data-kc-thread] on the element whose children are the thread's items: new
//     activity entries go there, after its last message or entry (without it: next to the
//     last message element),
//   - optionally [data-kc-mark-slot] inside a message: where its "Selected" pill goes (without
//     it: just after the message's indicator slot, else before its [data-kc-body]); the pill
//     is always in the flow of the host's markup, never laid over it,
//   - optionally one [data-kc-dock], e.g. between the thread and the reply box: the action bar and
//     the toast move into it and take room in the flow, so they cover nothing (without it they
//     float at the bottom of the window).
// A case the agent asks to see, or that just changed, is announced with a bubbling
// "kroncases:reveal" event on its <details> (detail.requested: the agent asked) so that a host
// can show a hidden panel; if the case stays out of sight, the toast offers "Show case".
// The panel's entries marked [data-kc-add-target] (open and pending cases) become "Add to Case #N"
// buttons in the action bar and items in the context menu; they are read from the panel each
// time, so they follow every change the fragments bring.
// Keyboard: focus a message, press the context-menu key, Shift+F10 or Enter, then Enter
// on "Select message"; Escape clears the selection; the dialogs trap focus. Unless the page's
// <meta name="kroncases-shortcuts" content="off"> (KRONCASES_SHORTCUTS = False) says no, the thread
// is one Tab stop (a roving tabindex) and j/k move, x selects, c creates a case, ? lists the keys;
// no letter acts while a field or a dialog other than that list has the keyboard.
(() => {
  "use strict";

  const SUGGEST_POLL_MS = 700;
  const SUGGEST_GIVE_UP_MS = 30000;

  const $ = (selector, scope = document) => scope.querySelector(selector);
  const $$ = (selector, scope = document) => Array.from(scope.querySelectorAll(selector));
  const csrfToken = () => ($('meta[name="kroncases-csrf-token"]') || {}).content || "";
  const fromHTML = (html) => {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  };
  // The texts come from the page, in the agent's language (kroncases.assets(): <script id="kc-strings">);
  // this file holds none. t(key, vars) fills %(name)s / %(name)d; tn(key, n, vars) picks the form for n.
  // cases.js and settings.js use the same two, as window.KronCasesTexts (this file runs first: it is
  // loaded by kroncases.assets() in the page's head, they at the end of their page, all deferred).
  const TEXTS = (() => {
    const el = document.getElementById("kc-strings");
    let found = null;
    try { found = el ? JSON.parse(el.textContent) : null; } catch (error) { found = null; }
    return Object.assign({ locale: "en", strings: {}, plurals: {} }, found);
  })();
  const fill = (text, vars = {}) => text.replace(/%(?:\((\w+)\)[sd]|%)/g,
    (found, name) => (name === undefined ? "%" : name in vars ? String(vars[name]) : found));
  const t = (key, vars) => fill(TEXTS.strings[key] || key, vars);
  let pluralRules = null;
  const tn = (key, n, vars = {}) => {
    if (!pluralRules) {
      try { pluralRules = new Intl.PluralRules(TEXTS.locale); } catch (error) { pluralRules = new Intl.PluralRules("en"); }
    }
    const forms = TEXTS.plurals[key] || { one: key, other: key };
    return fill(pluralRules.select(n) === "one" ? forms.one : forms.other, { ...vars, num: n });
  };
  window.KronCasesTexts = Object.freeze({ t, tn });

  // -- links into the thread and the panel (also useful on pages without the root) --

  /** Show what the URL's #fragment names; ``focus``: also move the keyboard there (a followed link). */
  function revealHash(focus = false) {
    const id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    const messageMatch = /^kc-message-(.+)$/.exec(id);
    if (messageMatch) {
      const message = $(`[data-kc-message="${CSS.escape(messageMatch[1])}"]`);
      if (message) {
        message.scrollIntoView({ block: "center" });
        message.focus({ preventScroll: true });
        message.classList.add("kc-target");
        setTimeout(() => message.classList.remove("kc-target"), 2500);
      }
      return;
    }
    const target = document.getElementById(id);
    if (target && target.matches("details.kc-case")) {
      target.open = true;
      // The host shows the panel if it keeps it hidden (a drawer, a closed sidebar) before focus moves.
      if (focus) target.dispatchEvent(new CustomEvent("kroncases:reveal", { bubbles: true, detail: { requested: true } }));
      target.scrollIntoView({ block: "nearest" });
      const summary = $("summary", target);
      const focusSummary = () => { if (summary.getClientRects().length) summary.focus(); };
      // A host that shows its panel from its own hashchange listener (run after this one) gets a turn first.
      if (focus && summary) { if (summary.getClientRects().length) summary.focus(); else setTimeout(focusSummary, 0); }
    }
  }
  window.addEventListener("hashchange", () => revealHash(true));
  // A case indicator followed again: the hash does not change, the case still gets the focus (and
  // the browser's own jump to the same fragment, which would drop focus to <body>, is not made).
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-kc-open-case]");
    if (link && link.getAttribute("href") === location.hash) {
      event.preventDefault();
      revealHash(true);
    }
  });

  const root = $("[data-kc-root]");
  if (!root) {
    document.addEventListener("DOMContentLoaded", () => revealHash());
    return;
  }

  const cfg = root.dataset;
  const live = $("[data-kc-live]", root);
  const menu = $("[data-kc-menu]", root);
  const menuToggle = $("[data-kc-menu-toggle]", menu);
  const menuOpenCase = $("[data-kc-menu-open-case]", menu);
  const bar = $("[data-kc-actionbar]", root);
  const caseDialog = $("[data-kc-case-dialog]", root);
  const caseForm = $("[data-kc-case-form]", root);
  const escalateDialog = $("[data-kc-escalate-dialog]", root);
  const escalateForm = $("[data-kc-escalate-form]", root);
  const shortcutsDialog = $("[data-kc-shortcuts-dialog]", root);
  const field = (form, name) => $(`[data-kc-field="${name}"]`, form);
  // The host's place for the bar and the toast, in the flow of its layout (see the top of this file).
  const dock = $("[data-kc-dock]");
  if (dock) {
    bar.classList.add("kc-actionbar--docked");
    dock.appendChild(bar);
  }
  /** A docked bar or toast takes room from the thread: keep the message the agent is on in sight. */
  function keepMessageInView() {
    if (!dock) return;
    const active = document.activeElement;
    const el = active && active.closest && active.closest("[data-kc-message]");
    if (el) el.scrollIntoView({ block: "nearest" });
  }

  /** Selected message ids, in the order they were selected. */
  const selected = new Set();

  // -- announcements and a visible toast --------------------------------------------

  let liveTimer = null;
  function announce(text) {
    clearTimeout(liveTimer);
    live.textContent = "";
    liveTimer = setTimeout(() => { live.textContent = text; }, 60);
  }

  const toast = document.createElement("div");
  toast.className = dock ? "kc-toast kc-toast--docked" : "kc-toast";
  toast.hidden = true;
  const toastText = document.createElement("span");
  toastText.className = "kc-toast__text";
  const toastAction = document.createElement("button");
  toastAction.type = "button";
  toastAction.className = "kc-toast__action";
  toastAction.hidden = true;
  toast.append(toastText, toastAction);
  (dock || root).appendChild(toast);
  let toastTimer = null;
  let toastRun = null;
  /** Hide after ``ms``, but never under the pointer or with the keyboard in it (its button stays usable). */
  function armToast(ms) {
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      if (toast.matches(":hover, :focus-within")) armToast(1500); else toast.hidden = true;
    }, ms);
  }
  /** ``action``: {label, run}, a button in the toast (e.g. "Show case" for a case the host keeps out of sight). */
  function showToast(text, tone = "ok", action = null) {
    toastText.textContent = text;
    toast.dataset.tone = tone;
    toastRun = action ? action.run : null;
    toastAction.textContent = action ? action.label : "";
    toastAction.hidden = !action;
    const wasHidden = toast.hidden;
    toast.hidden = false;
    if (wasHidden) keepMessageInView();
    armToast(action ? 10000 : 5000);
  }
  toastAction.addEventListener("click", () => {
    const run = toastRun;
    toast.hidden = true;
    if (run) run();
  });
  /** "Show case" for a case that stays out of sight after a change. */
  const showCase = (caseId, shown) => (shown ? null : { label: t("show_case"), run: () => openCase(caseId) });

  // -- messages and selection ----------------------------------------------------------

  const hint = document.createElement("span");
  hint.id = "kc-message-hint";
  hint.className = "kc-visually-hidden";
  hint.textContent = t("message_hint");
  root.appendChild(hint);

  const messageEls = () => $$("[data-kc-message]");
  const messageEl = (id) => $(`[data-kc-message="${CSS.escape(String(id))}"]`);

  function prepare(el) {
    if (!el.hasAttribute("tabindex")) el.tabIndex = 0;
    const described = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (!described.includes(hint.id)) el.setAttribute("aria-describedby", described.concat(hint.id).join(" "));
  }
  messageEls().forEach(prepare);

  /** Put the "Selected" pill in the flow of the message, in the place the host keeps for it. */
  function placeMark(el, mark) {
    const slot = $("[data-kc-mark-slot]", el);
    if (slot) { slot.appendChild(mark); return; }
    const indicator = $("[data-kc-indicator-slot]", el);
    if (indicator) { indicator.after(mark); return; }
    const body = $("[data-kc-body]", el);
    if (body) body.before(mark); else el.prepend(mark);
  }

  function markSelected(el, on) {
    el.classList.toggle("kc-selected", on);
    let mark = $("[data-kc-mark]", el);
    if (on && !mark) {
      mark = document.createElement("span");
      mark.className = "kc-selection-mark";
      mark.dataset.kcMark = "";
      mark.innerHTML = '<svg class="kc-icon" aria-hidden="true" focusable="false" viewBox="0 0 16 16" width="12" height="12">'
        + '<path fill="currentColor" d="M13.5 3.5 6 11 2.5 7.5l-1 1L6 13l8.5-8.5z"/></svg>';
      mark.append(` ${t("selected_mark")}`);
      placeMark(el, mark);
    } else if (!on && mark) {
      mark.remove();
    }
  }

  function select(el) {
    if (el.dataset.kcCase) {
      announce(t("already_logged", { id: el.dataset.kcCase }));
      return false;
    }
    selected.add(el.dataset.kcMessage);
    markSelected(el, true);
    updateBar();
    announce(tn("message_selected", selected.size));
    return true;
  }

  function deselect(el, quiet = false) {
    selected.delete(el.dataset.kcMessage);
    markSelected(el, false);
    updateBar();
    if (!quiet) announce(tn("message_deselected", selected.size));
  }

  function clearSelection(quiet = false) {
    if (!selected.size) return;
    selected.forEach((id) => { const el = messageEl(id); if (el) markSelected(el, false); });
    selected.clear();
    updateBar();
    if (!quiet) announce(t("selection_cleared"));
  }

  /** Selected ids in thread order (the order the case lists them in). */
  function selectedIds() {
    return messageEls().map((el) => el.dataset.kcMessage).filter((id) => selected.has(id));
  }

  function updateBar() {
    const n = selected.size;
    renderAddTargets();
    $("[data-kc-count]", bar).textContent = String(n);
    $("[data-kc-count-label]", bar).textContent = tn("selected_count_label", n);
    const wasHidden = bar.hidden;
    bar.hidden = n === 0;
    if (!wasHidden && bar.hidden && bar.contains(document.activeElement)) {
      (messageEls()[0] || document.body).focus();
    }
    if (wasHidden && !bar.hidden) keepMessageInView();
    document.documentElement.classList.toggle("kc-has-selection", n > 0);
  }

  $("[data-kc-clear]", bar).addEventListener("click", () => clearSelection());
  $("[data-kc-create]", bar).addEventListener("click", () => openCaseForm());

  // -- add the selection to an existing case ----------------------------------------------------

  /** The conversation's open and pending cases, as the panel lists them now. */
  function addTargets() {
    return $$("[data-kc-panel] [data-kc-add-target]").map((el) => ({ id: el.dataset.caseId, title: el.dataset.caseTitle || "" }));
  }

  const targetsGroup = document.createElement("span");
  targetsGroup.className = "kc-actionbar__targets";
  targetsGroup.setAttribute("role", "group");
  targetsGroup.setAttribute("aria-label", t("add_targets_label"));
  targetsGroup.dataset.kcAddTargets = "";
  $("[data-kc-create]", bar).before(targetsGroup);

  /** One "Add to Case #N" button per target; the button that had focus keeps it if its case is still offered. */
  function renderAddTargets() {
    const targets = addTargets();
    const shown = $$("[data-kc-add-to]", targetsGroup).map((b) => `${b.dataset.kcAddTo}\n${b.title}`).join("|");
    const wanted = targets.map((target) => `${target.id}\n${t("add_to_case_title", target)}`).join("|");
    targetsGroup.hidden = !targets.length;
    if (shown === wanted) return;
    const focused = targetsGroup.contains(document.activeElement) ? document.activeElement.dataset.kcAddTo : null;
    targetsGroup.replaceChildren(...targets.map((target) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "kc-btn kc-actionbar__add";
      button.dataset.kcAddTo = target.id;
      button.title = t("add_to_case_title", target);
      button.textContent = t("add_to_case", target);
      return button;
    }));
    if (focused) {
      const again = $(`[data-kc-add-to="${CSS.escape(focused)}"]`, targetsGroup);
      (again || $("[data-kc-create]", bar)).focus();
    }
  }

  targetsGroup.addEventListener("click", (event) => {
    const button = event.target.closest("[data-kc-add-to]");
    if (button) addToCase(button.dataset.kcAddTo, selectedIds(), button);
  });

  let adding = false;
  /** POST the messages to the case, then bring in the fragments: indicators, panel, activity. */
  async function addToCase(caseId, ids, button) {
    if (adding || !ids.length) return;
    adding = true;
    if (button) setBusy(button, true, t("adding"));
    try {
      const { response, data } = await jsonRequest(`${cfg.api}/cases/${caseId}/messages`, "POST", { message_ids: ids });
      if (response.ok) {
        const first = messageEl(ids[0]);
        clearSelection(true);
        await refresh();
        const shown = revealCase(caseId);
        if (first) first.focus();
        announce(tn("messages_added", ids.length, { id: caseId }));
        showToast(tn("messages_added_toast", ids.length, { id: caseId }), "ok", showCase(caseId, shown));
      } else {
        // Someone (or an earlier click) put a message in another case, or the case was resolved: show
        // where things stand now, keep what is still selectable selected, and say why.
        await refresh();
        const message = data.message || t("nothing_added");
        const shown = revealCase(caseId);
        panelError(caseId, message);
        showToast(message, "error", showCase(caseId, shown));
      }
    } catch (error) {
      panelError(caseId, t("offline_nothing_added"));
      showToast(t("offline_nothing_added_toast"), "error");
    } finally {
      adding = false;
      if (button && button.isConnected) setBusy(button, false);
    }
  }

  // -- the context menu ---------------------------------------------------------------------

  let menuTarget = null;
  let menuOpenedAt = 0;

  function menuItems() {
    return [menuToggle, menuOpenCase, ...$$("[data-kc-menu-add]", menu)].filter((item) => !item.hidden);
  }

  /** "Add to Case #N" items for a message in no case: they add it with the rest of the selection. */
  function renderMenuTargets(el) {
    $$("[data-kc-menu-add], [data-kc-menu-add-sep]", menu).forEach((item) => item.remove());
    if (el.dataset.kcCase) return;
    const targets = addTargets();
    if (!targets.length) return;
    const count = menuSelection(el).length;
    const separator = document.createElement("li");
    separator.setAttribute("role", "separator");
    separator.className = "kc-menu__separator";
    separator.dataset.kcMenuAddSep = "";
    menu.appendChild(separator);
    targets.forEach((target) => {
      const item = document.createElement("li");
      item.setAttribute("role", "menuitem");
      item.tabIndex = -1;
      item.className = "kc-menu__item";
      item.dataset.kcMenuAdd = target.id;
      item.innerHTML = '<svg class="kc-menu__icon" aria-hidden="true" focusable="false" viewBox="0 0 16 16" width="16" height="16">'
        + '<path fill="currentColor" d="M7.25 2h1.5v5.25H14v1.5H8.75V14h-1.5V8.75H2v-1.5h5.25z"/></svg>'
        + '<span class="kc-menu__text"><span class="kc-menu__label"></span><small class="kc-menu__sub"></small></span>';
      $(".kc-menu__label", item).textContent = t("add_to_case", target);
      $(".kc-menu__sub", item).textContent = count > 1 ? tn("menu_add_detail", count, target) : target.title;
      menu.appendChild(item);
    });
  }

  /** What the menu's "Add to Case" adds: the selection and the message it was opened on, in thread order. */
  function menuSelection(el) {
    const id = el.dataset.kcMessage;
    return messageEls().map((m) => m.dataset.kcMessage).filter((m) => selected.has(m) || m === id);
  }

  function openMenu(el, x, y) {
    closeMenu(false);
    menuTarget = el;
    menuOpenedAt = Date.now();
    const caseId = el.dataset.kcCase;
    const isSelected = selected.has(el.dataset.kcMessage);
    $("[data-kc-menu-label]", menuToggle).textContent = t(isSelected ? "deselect_message" : "select_message");
    const menuHint = $("[data-kc-menu-hint]", menuToggle);
    if (caseId) {
      menuToggle.setAttribute("aria-disabled", "true");
      menuHint.textContent = t("already_logged_toast", { id: caseId });
      menuHint.hidden = false;
      menuOpenCase.hidden = false;
      $("[data-kc-menu-open-label]", menuOpenCase).textContent = t("open_case", { id: caseId });
    } else {
      menuToggle.removeAttribute("aria-disabled");
      menuHint.hidden = true;
      menuHint.textContent = "";
      menuOpenCase.hidden = true;
    }
    renderMenuTargets(el);
    el.classList.add("kc-menu-target");
    menu.hidden = false;
    if (x == null || y == null) {
      const rect = el.getBoundingClientRect();
      x = rect.left + 24;
      y = Math.min(rect.top + 28, window.innerHeight - 40);
    }
    const { width, height } = menu.getBoundingClientRect();
    menu.style.left = `${Math.max(8, Math.min(x, window.innerWidth - width - 8))}px`;
    menu.style.top = `${Math.max(8, Math.min(y, window.innerHeight - height - 8))}px`;
    menuItems()[0].focus();
  }

  function closeMenu(returnFocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    const target = menuTarget;
    menuTarget = null;
    if (target) {
      target.classList.remove("kc-menu-target");
      if (returnFocus) target.focus();
    }
  }

  function activate(item) {
    const target = menuTarget;
    if (!target) return;
    if (item === menuToggle) {
      if (item.getAttribute("aria-disabled") === "true") {
        closeMenu();
        announce(t("already_logged", { id: target.dataset.kcCase }));
        showToast(t("already_logged_toast", { id: target.dataset.kcCase }), "info");
        return;
      }
      closeMenu();
      if (selected.has(target.dataset.kcMessage)) deselect(target); else select(target);
    } else if (item === menuOpenCase) {
      const caseId = target.dataset.kcCase;
      closeMenu(false);
      openCase(caseId);
    } else if (item.dataset.kcMenuAdd) {
      const ids = menuSelection(target);
      closeMenu();
      addToCase(item.dataset.kcMenuAdd, ids, null);
    }
  }

  menu.addEventListener("click", (event) => {
    const item = event.target.closest("[role=menuitem]");
    if (item) activate(item);
  });
  menu.addEventListener("keydown", (event) => {
    const items = menuItems();
    const index = items.indexOf(document.activeElement);
    const move = (to) => { event.preventDefault(); items[(to + items.length) % items.length].focus(); };
    switch (event.key) {
      case "ArrowDown": move(index + 1); break;
      case "ArrowUp": move(index - 1); break;
      case "Home": move(0); break;
      case "End": move(items.length - 1); break;
      case "Enter":
      case " ":
        event.preventDefault();
        if (index >= 0) activate(items[index]);
        break;
      case "Escape":
        event.preventDefault();
        event.stopPropagation();
        closeMenu();
        break;
      case "Tab":
        event.preventDefault();
        closeMenu();
        break;
      default:
    }
  });

  document.addEventListener("contextmenu", (event) => {
    const el = event.target.closest && event.target.closest("[data-kc-message]");
    if (!el || event.shiftKey) { closeMenu(false); return; } // Shift+right-click: the browser's own menu
    const text = window.getSelection();
    if (text && !text.isCollapsed && el.contains(text.anchorNode)) return; // let people copy text
    event.preventDefault();
    if (Date.now() - menuOpenedAt < 400 && !menu.hidden) return; // already opened from the keyboard
    const fromKeyboard = event.button !== 2 || (event.clientX === 0 && event.clientY === 0);
    if (fromKeyboard) openMenu(el); else openMenu(el, event.clientX, event.clientY);
  });

  document.addEventListener("mousedown", (event) => {
    if (!menu.hidden && !menu.contains(event.target)) closeMenu(false);
  });
  window.addEventListener("resize", () => closeMenu(false));
  // A scroll closes the menu, except the one that brought the message into view as it opened.
  document.addEventListener("scroll", () => { if (Date.now() - menuOpenedAt > 300) closeMenu(false); }, true);

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented) return;
    const el = event.target.closest && event.target.closest("[data-kc-message]");
    if (el && event.target === el) {
      if (event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey) || event.key === "Enter") {
        event.preventDefault();
        openMenu(el);
        return;
      }
    }
    if (event.key === "Escape" && menu.hidden && !caseDialog.open && !escalateDialog.open
        && !(shortcutsDialog && shortcutsDialog.open) && selected.size) {
      const editing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
      if (!editing) clearSelection();
    }
  });

  // -- dialogs: modal, focus trapped, Escape closes, focus goes back ----------------------------------

  const returnFocus = new WeakMap();

  function openDialog(dialog, focusEl) {
    returnFocus.set(dialog, document.activeElement);
    dialog.showModal();
    (focusEl || $("input, textarea, select, button", dialog)).focus();
  }

  function closeDialog(dialog, focusEl) {
    if (!dialog.open) return;
    dialog.close();
    const back = focusEl || returnFocus.get(dialog);
    if (back && back.isConnected && !back.closest("[hidden]")) back.focus();
    else (messageEls()[0] || document.body).focus();
  }

  [caseDialog, escalateDialog, shortcutsDialog].filter(Boolean).forEach((dialog) => {
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); closeDialog(dialog); });
    dialog.addEventListener("click", (event) => {
      if (event.target.closest("[data-kc-close]")) closeDialog(dialog);
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const focusable = $$("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])", dialog)
        .filter((el) => el.offsetParent !== null || el === document.activeElement);
      if (!focusable.length) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    });
  });

  function clearErrors(form) {
    const alert = $("[data-kc-form-error]", form);
    alert.hidden = true;
    alert.textContent = "";
    $$("[data-kc-error-for]", form).forEach((p) => { p.hidden = true; p.textContent = ""; });
    $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
  }

  /** Show a refusal next to its fields and keep everything typed; focus the first problem. */
  function showErrors(form, data, fallback) {
    const errors = (data && data.errors) || {};
    let first = null;
    let general = [];
    Object.entries(errors).forEach(([name, messages]) => {
      const slot = $(`[data-kc-error-for="${CSS.escape(name)}"]`, form);
      const input = field(form, name);
      if (slot && input) {
        slot.textContent = messages.join(" ");
        slot.hidden = false;
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      } else {
        general = general.concat(messages);
      }
    });
    const alert = $("[data-kc-form-error]", form);
    const text = general.length ? general.join(" ") : (first ? "" : ((data && data.message) || fallback));
    if (text) {
      alert.textContent = text;
      alert.hidden = false;
    }
    if (first) first.focus();
    announce(text || (data && data.message) || t("check_fields"));
  }

  function setBusy(button, busy, label) {
    button.disabled = busy;
    if (busy) {
      button.dataset.label = button.textContent;
      button.textContent = label;
      button.setAttribute("aria-busy", "true");
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.removeAttribute("aria-busy");
    }
  }

  // -- the case form -------------------------------------------------------------------------

  const titleInput = field(caseForm, "title");
  // The limit comes from the markup (the server's one constant), never from here. It is said, not
  // enforced by the field: no maxlength, so a paste is kept whole and the agent shortens it.
  const TITLE_MAX = Number(titleInput && titleInput.getAttribute("data-kc-max")) || Infinity;
  const summaryInput = field(caseForm, "summary");
  const typeInput = field(caseForm, "case_type");
  const priorityInput = field(caseForm, "priority");
  const idsInput = field(caseForm, "message_ids");
  const counter = $("[data-kc-counter]", caseForm);
  const suggestStatus = $("[data-kc-suggest-status]", caseForm);
  const saveButton = $("[data-kc-save]", caseForm);
  const dirty = { title: false, summary: false };
  let draftFor = null;
  let suggestionRun = 0;
  let saving = false;

  // The length as saved: the server trims and collapses whitespace before it counts.
  const titleLength = () => titleInput.value.split(/\s+/).filter(Boolean).join(" ").length;
  // The same words as the server's refusal (forms.CaseForm).
  const titleTooLong = () => {
    const length = titleLength();
    return length > TITLE_MAX ? t("title_too_long", { max: TITLE_MAX, length }) : "";
  };
  let titleWasOver = false;

  function updateCounter() {
    const length = titleLength();
    const tooLong = titleTooLong();
    counter.textContent = `${length}/${TITLE_MAX}`;
    counter.classList.toggle("kc-counter--near", length >= TITLE_MAX - 10 && length < TITLE_MAX);
    counter.classList.toggle("kc-counter--full", length === TITLE_MAX);
    counter.classList.toggle("kc-counter--over", Boolean(tooLong));
    // Over the limit the message stands at the field (the title's error slot) until it is short enough.
    const slot = $('[data-kc-error-for="title"]', caseForm);
    if (tooLong) {
      slot.textContent = tooLong;
      slot.hidden = false;
      slot.dataset.kcLimit = "";
      titleInput.setAttribute("aria-invalid", "true");
    } else if (slot.hasAttribute("data-kc-limit")) {
      slot.textContent = "";
      slot.hidden = true;
      delete slot.dataset.kcLimit;
      titleInput.removeAttribute("aria-invalid");
    }
    titleWasOver = Boolean(tooLong);
  }

  titleInput.addEventListener("input", () => {
    dirty.title = true;
    const wasOver = titleWasOver;
    updateCounter();
    if (titleWasOver && !wasOver) announce(titleTooLong());
    else if (!titleWasOver && titleLength() === TITLE_MAX) announce(t("title_at_limit", { max: TITLE_MAX }));
  });
  summaryInput.addEventListener("input", () => { dirty.summary = true; });

  function messageText(id) {
    const el = messageEl(id);
    if (!el) return "";
    const body = $("[data-kc-body]", el);
    const copy = (body || el).cloneNode(true);
    const extras = body ? "[data-kc-mark], [data-kc-indicator-slot]" : "[data-kc-mark], [data-kc-indicator-slot], [data-kc-indicator], time";
    $$(extras, copy).forEach((n) => n.remove());
    return body ? copy.textContent.trim() : copy.textContent.replace(/\s+/g, " ").trim();
  }

  function firstSentence(text) {
    const clean = text.replace(/\s+/g, " ").trim();
    const match = /^(.+?[.!?])(\s|$)/.exec(clean);
    let sentence = (match ? match[1] : clean).replace(/^(hi|hello|hey|hallo)\b[^,.!?]*[,.!]\s*/i, "");
    if (!sentence) sentence = clean;
    if (sentence.length <= TITLE_MAX) return sentence;
    const cut = sentence.slice(0, TITLE_MAX - 1);
    return `${cut.slice(0, Math.max(cut.lastIndexOf(" "), 40)).replace(/[,;:\s]+$/, "")}…`;
  }

  /** A suggestion made here, from the text on the page, while the summarizer works. */
  function localSuggestion(ids) {
    const customer = ids.find((id) => {
      const el = messageEl(id);
      return el && (el.dataset.kcRole === "customer" || /(^|\s)msg--customer(\s|$)/.test(el.className));
    });
    const texts = ids.map(messageText).filter(Boolean);
    const title = firstSentence(messageText(customer || ids[0]) || t("support_request"));
    const summary = texts.map((text) => `- ${firstSentence(text)}`).join("\n");
    return { title, summary };
  }

  function setSuggestStatus(state, text) {
    suggestStatus.dataset.state = state;
    suggestStatus.textContent = text;
  }

  // A type or priority the agent chose for this draft is theirs: a suggestion never changes it.
  [typeInput, priorityInput].forEach((select) => {
    const touched = () => { select.dataset.kcTouched = draftFor || ""; };
    select.addEventListener("change", touched);
    select.addEventListener("input", touched);
  });

  function applyChoice(select, value) {
    if (!value || select.dataset.kcTouched === (draftFor || "")) return;
    if (Array.from(select.options).some((o) => o.value === value)) select.value = value;
  }

  function applySuggestion(run, suggestion, label) {
    if (run !== suggestionRun || !caseDialog.open) return;
    if (!dirty.title && suggestion.title) { titleInput.value = suggestion.title.slice(0, TITLE_MAX); updateCounter(); }
    if (!dirty.summary && suggestion.summary) summaryInput.value = suggestion.summary;
    applyChoice(typeInput, suggestion.case_type);
    applyChoice(priorityInput, suggestion.priority);
    setSuggestStatus("done", label);
  }

  async function jsonRequest(url, method = "GET", body = undefined) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrfToken();
    }
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { response, data };
  }

  async function requestSuggestion(ids) {
    const run = ++suggestionRun;
    const fallback = localSuggestion(ids);
    setSuggestStatus("pending", t("suggesting"));
    const giveUp = Date.now() + SUGGEST_GIVE_UP_MS;
    const failed = (why) => {
      if (run !== suggestionRun) return;
      if (!dirty.title && !titleInput.value) { titleInput.value = fallback.title; updateCounter(); }
      setSuggestStatus("failed", t("suggestion_unavailable"));
      if (why) suggestStatus.title = why;
    };
    try {
      let { response, data } = await jsonRequest(cfg.suggestUrl, "POST", { message_ids: ids });
      if (response.status === 404 || response.status === 405) {
        applySuggestion(run, fallback, t("suggested_here"));
        return;
      }
      if (!response.ok || !data.suggestion) { failed(data.message); return; }
      let suggestion = data.suggestion;
      while (suggestion.status === "pending") {
        if (run !== suggestionRun || !caseDialog.open) return;
        if (Date.now() > giveUp) { failed(t("summarizer_too_slow")); return; }
        await new Promise((resolve) => setTimeout(resolve, SUGGEST_POLL_MS));
        ({ response, data } = await jsonRequest(cfg.suggestionUrl + encodeURIComponent(suggestion.id)));
        if (!response.ok || !data.suggestion) { failed(data.message); return; }
        suggestion = data.suggestion;
      }
      if (suggestion.status === "done") {
        const by = suggestion.model || suggestion.source;
        const label = suggestion.source === "offline" ? t("suggested_automatically")
          : by ? t("suggested_by", { model: by }) : t("suggested");
        applySuggestion(run, suggestion, label);
      } else {
        failed(suggestion.error);
      }
    } catch (error) {
      failed(String(error));
    }
  }

  function openCaseForm() {
    const ids = selectedIds();
    if (!ids.length) return;
    const key = ids.join(",");
    clearErrors(caseForm);
    if (draftFor !== key) {
      titleInput.value = "";
      summaryInput.value = "";
      typeInput.selectedIndex = Math.max(0, Array.from(typeInput.options).findIndex((o) => o.defaultSelected));
      priorityInput.selectedIndex = Math.max(0, Array.from(priorityInput.options).findIndex((o) => o.defaultSelected));
      dirty.title = false;
      dirty.summary = false;
      draftFor = key;
      // A first title at once, from the page; the summarizer's replaces it unless the agent edits it.
      titleInput.value = localSuggestion(ids).title;
    }
    idsInput.value = key;
    $("[data-kc-form-selection]", caseForm).textContent = tn("form_selection", ids.length);
    updateCounter();
    openDialog(caseDialog, titleInput);
    titleInput.select();
    if (!dirty.title || !dirty.summary) requestSuggestion(ids);
    else setSuggestStatus("done", "");
  }

  caseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (saving) return; // a double click or a second Enter sends nothing more
    clearErrors(caseForm);
    if (!titleInput.value.trim()) {
      showErrors(caseForm, { errors: { title: [t("enter_title")] } });
      return;
    }
    const tooLong = titleTooLong();
    if (tooLong) {
      showErrors(caseForm, { errors: { title: [tooLong] } });
      announce(tooLong);
      return;
    }
    saving = true;
    setBusy(saveButton, true, t("saving"));
    try {
      const response = await fetch(cfg.formUrl, {
        method: "POST",
        body: new FormData(caseForm),
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
      const data = await response.json().catch(() => ({}));
      if (response.status === 201 && data.case) {
        suggestionRun += 1;
        draftFor = null;
        const first = messageEl(selectedIds()[0]);
        clearSelection(true);
        applyFragments(data.fragments);
        closeDialog(caseDialog, first);
        const shown = revealCase(data.case.id);
        announce(tn("case_created", data.case.message_ids.length, { id: data.case.id }));
        showToast(t("case_created_toast", { id: data.case.id }), "ok", showCase(data.case.id, shown));
      } else if (response.status === 409) {
        // Someone (or an earlier click) already put a message in a case: show where, keep the text.
        await refresh();
        showErrors(caseForm, data, t("message_already_in_case"));
        const left = selectedIds();
        idsInput.value = left.join(",");
        $("[data-kc-form-selection]", caseForm).textContent = left.length
          ? tn("form_selection", left.length)
          : t("nothing_selectable_left");
      } else {
        showErrors(caseForm, data, t("case_not_saved"));
      }
    } catch (error) {
      showErrors(caseForm, {}, t("offline_form"));
    } finally {
      saving = false;
      setBusy(saveButton, false);
    }
  });

  // -- the Support Cases panel --------------------------------------------------------------------

  function openCase(caseId) {
    const target = `#kc-case-${caseId}`;
    if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else location.hash = target;
    revealCase(caseId, true);
  }

  /** Open the case's entry and ask the host to show it (``focus``: the agent asked, then focus it); is it in sight? */
  function revealCase(caseId, focus = false) {
    const details = document.getElementById(`kc-case-${caseId}`);
    if (!details) return false;
    details.open = true;
    details.dispatchEvent(new CustomEvent("kroncases:reveal", { bubbles: true, detail: { requested: focus } }));
    const shown = details.offsetParent !== null;
    if (focus && shown) $("summary", details).focus();
    return shown;
  }

  function applyFragments(fragments) {
    if (!fragments) return;
    const panel = $("[data-kc-panel]");
    if (panel && fragments.panel) {
      const openIds = $$("details[open]", panel).map((d) => d.dataset.caseId);
      const fresh = fromHTML(fragments.panel);
      openIds.forEach((id) => { const d = $(`#kc-case-${CSS.escape(id)}`, fresh); if (d) d.open = true; });
      panel.replaceWith(fresh);
      renderAddTargets();
    }
    messageEls().forEach((el) => {
      const info = fragments.messages[el.dataset.kcMessage];
      const slot = $("[data-kc-indicator-slot]", el);
      if (info) {
        if (selected.has(el.dataset.kcMessage)) deselect(el, true);
        if (el.dataset.kcCase !== String(info.case_id) && slot) slot.innerHTML = info.indicator;
        el.dataset.kcCase = String(info.case_id);
      } else if (el.dataset.kcCase) {
        delete el.dataset.kcCase;
        if (slot) slot.innerHTML = "";
      }
    });
    const known = new Set($$("[data-kc-activity]").map((el) => el.dataset.kcActivity));
    fragments.activity.forEach((entry) => {
      if (known.has(String(entry.id))) return;
      const item = fromHTML(entry.html);
      item.classList.add("kc-activity--new");
      if (insertActivity(item)) item.scrollIntoView({ block: "nearest" });
    });
    $$(`[data-kc-badges="${CSS.escape(cfg.conversation)}"]`).forEach((el) => el.replaceWith(fromHTML(fragments.badges)));
  }

  /** The host's thread: the element it marked with data-kc-thread (this conversation's, else the first). */
  function threadElement() {
    return $(`[data-kc-thread="${CSS.escape(cfg.conversation)}"]`) || $("[data-kc-thread]");
  }

  /** A new activity entry goes last among the thread's items: into the host's [data-kc-thread], after
      the child of it that holds the last message or entry (a grid row, a list item), so the host's own
      wrappers are never entered; without one, next to the last message element, as before. */
  function insertActivity(item) {
    const thread = threadElement();
    if (thread) {
      let last = $$("[data-kc-activity], [data-kc-message]", thread).pop();
      while (last && last.parentElement !== thread) last = last.parentElement;
      if (last) last.after(item); else thread.appendChild(item);
      return true;
    }
    const anchor = $$("[data-kc-activity]").pop() || messageEls().pop();
    if (!anchor) return false;
    anchor.parentElement.appendChild(item);
    return true;
  }

  async function refresh() {
    const { response, data } = await jsonRequest(cfg.fragmentsUrl);
    if (response.ok) applyFragments(data);
  }

  // ``done``: the key of what is announced when it worked; the toast says it under ``done``_toast.
  const ACTIONS = {
    pending: { path: "status", body: { status: "pending" }, done: "marked_pending" },
    open: { path: "status", body: { status: "open" }, done: "marked_open" },
    resolve: { path: "resolve", body: {}, done: "resolved" },
    reopen: { path: "reopen", body: {}, done: "reopened" },
    // A job writes the new summary; look again while it works.
    summary: { path: "summary", body: {}, done: "summary_requested", followUp: [1500, 4000] },
    "assign-me": { path: "assign", body: { assignee: "me" }, done: "assigned_to_you" },
  };

  function focusCaseAfterUpdate(caseId) {
    const details = document.getElementById(`kc-case-${caseId}`);
    if (!details) return;
    details.open = true;
    const button = $("[data-kc-action]", details) || $("summary", details);
    button.focus();
  }

  function panelError(caseId, message) {
    const details = document.getElementById(`kc-case-${caseId}`);
    announce(message);
    if (!details) return;
    let slot = $("[data-kc-case-error]", details);
    if (!slot) {
      slot = document.createElement("p");
      slot.className = "kc-field-error";
      slot.setAttribute("role", "alert");
      slot.dataset.kcCaseError = "";
      $(".kc-case__actions", details).after(slot);
    }
    slot.textContent = message;
  }

  let acting = false;
  async function act(action, caseId, button) {
    if (action === "escalate") { openEscalate(caseId, button); return; }
    const spec = ACTIONS[action];
    if (!spec || acting) return;
    acting = true;
    setBusy(button, true, t("working"));
    try {
      const { response, data } = await jsonRequest(`${cfg.api}/cases/${caseId}/${spec.path}`, "POST", spec.body);
      if (response.ok) {
        await refresh();
        focusCaseAfterUpdate(caseId);
        (spec.followUp || []).forEach((ms) => setTimeout(refresh, ms));
        announce(t(spec.done, { id: caseId }));
        showToast(t(`${spec.done}_toast`, { id: caseId }));
      } else {
        await refresh();
        panelError(caseId, data.message || t("action_failed"));
      }
    } catch (error) {
      panelError(caseId, t("offline"));
    } finally {
      acting = false;
      if (button.isConnected) setBusy(button, false);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-kc-action]");
    if (button) act(button.dataset.kcAction, button.dataset.caseId, button);
  });

  // -- escalate -----------------------------------------------------------------------------------

  const reasonInput = field(escalateForm, "reason");
  const escalateButton = $("[data-kc-save]", escalateForm);
  let escalating = null;
  let escalateBusy = false;

  function openEscalate(caseId, button) {
    escalating = caseId;
    clearErrors(escalateForm);
    reasonInput.value = "";
    $("[data-kc-escalate-case]", escalateForm).textContent = t("case_number", { id: caseId });
    openDialog(escalateDialog, reasonInput);
    returnFocus.set(escalateDialog, button);
  }

  escalateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (escalateBusy) return;
    clearErrors(escalateForm);
    if (!reasonInput.value.trim()) {
      showErrors(escalateForm, { errors: { reason: [t("reason_required")] } });
      return;
    }
    escalateBusy = true;
    setBusy(escalateButton, true, t("escalating"));
    try {
      const caseId = escalating;
      const { response, data } = await jsonRequest(`${cfg.api}/cases/${caseId}/escalate`, "POST", { reason: reasonInput.value });
      if (response.ok) {
        await refresh();
        closeDialog(escalateDialog, null);
        focusCaseAfterUpdate(caseId);
        announce(t("escalated", { id: caseId }));
        showToast(t("escalated_toast", { id: caseId }));
      } else {
        showErrors(escalateForm, data, t("not_escalated"));
      }
    } catch (error) {
      showErrors(escalateForm, {}, t("offline"));
    } finally {
      escalateBusy = false;
      setBusy(escalateButton, false);
    }
  });

  // -- keyboard shortcuts ------------------------------------------------------------------------
  // j/k next/previous message, x select, c Create Case, ? the list of keys. The thread is one Tab
  // stop: the message last focused has tabindex 0, the others -1 (whatever the host wrote). Off
  // when the host set KRONCASES_SHORTCUTS = False: then no key is read here and no tabindex moves.

  const shortcutsOn = (($('meta[name="kroncases-shortcuts"]') || {}).content || "on") !== "off";

  /** The messages the agent can see, in thread order (a collapsed or hidden one is skipped). */
  const visibleMessages = () => messageEls().filter((el) => el.getClientRects().length > 0);

  /** Make ``el`` the thread's one Tab stop. */
  function rove(el) {
    messageEls().forEach((m) => { m.tabIndex = m === el ? 0 : -1; });
  }

  /** The message the keyboard is on: the one holding focus, else the thread's Tab stop. */
  function currentMessage() {
    const active = document.activeElement;
    const holding = active && active.closest && active.closest("[data-kc-message]");
    if (holding) return { el: holding, focused: true };
    return { el: messageEls().find((m) => m.tabIndex === 0) || null, focused: false };
  }

  function moveTo(el) {
    if (!el) return;
    rove(el);
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }

  /** j/k: the next or previous visible message; from outside the thread, the Tab stop (the first at load). */
  function step(by) {
    const list = visibleMessages();
    if (!list.length) return;
    const { el, focused } = currentMessage();
    const index = el ? list.indexOf(el) : -1;
    if (!focused || index < 0) { moveTo(index >= 0 ? el : list[0]); return; }
    moveTo(list[Math.min(list.length - 1, Math.max(0, index + by))]);
  }

  function toggleFocused() {
    const { el, focused } = currentMessage();
    if (!focused) {
      announce(t("move_first"));
      return;
    }
    if (selected.has(el.dataset.kcMessage)) { deselect(el); return; }
    if (!select(el)) showToast(t("already_logged_toast", { id: el.dataset.kcCase }), "info");
  }

  function createFromSelection() {
    if (selected.size) { openCaseForm(); return; }
    announce(t("select_first"));
    showToast(t("select_first_toast"), "info");
  }

  /** Is the agent typing (a field, an editable region, a listbox)? Then letters are text, not commands. */
  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.isContentEditable || target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
  }

  /** A dialog of ours or of the host's, other than the shortcut list, has the keyboard. */
  function otherDialogOpen() {
    if (!menu.hidden) return true;
    return $$("dialog[open], [role=dialog], [role=alertdialog]").some((d) => d !== shortcutsDialog
      && (d.tagName === "DIALOG" ? d.open : d.getClientRects().length > 0 && !d.closest("[hidden]")));
  }

  function toggleShortcuts() {
    if (!shortcutsDialog) return;
    if (shortcutsDialog.open) closeDialog(shortcutsDialog);
    else openDialog(shortcutsDialog, $("[data-kc-close]", shortcutsDialog));
  }

  if (shortcutsOn) {
    hint.textContent = t("message_hint_shortcuts");
    const tabStop = messageEls().find((m) => m.matches(":focus")) || messageEls()[0];
    if (tabStop) rove(tabStop);
    document.addEventListener("focusin", (event) => {
      const el = event.target.closest && event.target.closest("[data-kc-message]");
      if (el && el.tabIndex !== 0) rove(el);
    });

    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
      if (typing(event.target)) return;
      if (shortcutsDialog && shortcutsDialog.open) {
        // The list is open: ? closes it as Esc does; nothing else acts behind it.
        if (event.key === "?") { event.preventDefault(); toggleShortcuts(); }
        return;
      }
      if (otherDialogOpen()) return;
      const actions = {
        j: () => step(1),
        k: () => step(-1),
        x: toggleFocused,
        c: createFromSelection,
        "?": toggleShortcuts,
      };
      // On a message itself, the arrows move too, as in any one-Tab-stop list.
      const onMessage = event.target.matches && event.target.matches("[data-kc-message]");
      const key = onMessage ? ({ ArrowDown: "j", ArrowUp: "k" }[event.key] || event.key) : event.key;
      if (event.shiftKey && key !== event.key) return;
      const action = actions[key];
      if (!action || (event.repeat && key !== "j" && key !== "k")) return;
      event.preventDefault(); // "c" opens the form with focus in the title: the letter must not land there
      action();
    });
  }

  root.dataset.kcReady = "";
  revealHash();
})();
