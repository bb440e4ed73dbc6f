// flask-kroncases: the cases page's selection. Without this script the page works the same,
// one checkbox at a time; with it, "Select all on this page" appears, the bulk bar counts the
// selection, and an empty or oversized selection is refused before the form is sent.
(() => {
  "use strict";

  // The texts come from the page, in the agent's language (kroncases.assets(): <script id="kc-strings">);
  // this file holds none. t(key, vars) fills %(name)s / %(name)d; tn(key, n, vars) picks the form for n.
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

  const form = document.querySelector("[data-kc-bulk]");
  if (!form) return;
  const all = document.querySelector("[data-kc-select-all]");
  const boxes = Array.from(document.querySelectorAll("[data-kc-select]"));
  const count = form.querySelector("[data-kc-bulk-count]");
  const limit = Number(form.dataset.kcBulkLimit) || 100;
  const idle = count ? count.textContent : "";

  const selected = () => boxes.filter((box) => box.checked);

  function update() {
    const n = selected().length;
    if (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
    if (count) count.textContent = n ? tn("cases_selected", n) : idle;
  }

  if (all) {
    all.hidden = false;
    all.addEventListener("change", () => {
      boxes.forEach((box) => { box.checked = all.checked; });
      update();
    });
  }
  boxes.forEach((box) => box.addEventListener("change", update));

  form.addEventListener("submit", (event) => {
    const n = selected().length;
    const problem = n === 0 ? t("select_a_case_first")
      : n > limit ? tn("select_at_most", limit) : "";
    if (problem) {
      event.preventDefault();
      if (count) count.textContent = problem;
      (boxes[0] || all || form).focus();
    }
  });

  // Back from a bulk change: put focus on its results, so they are read out first.
  const results = document.querySelector("[data-kc-bulk-results]");
  if (results && location.hash === "#kc-bulk-results") results.focus();
  update();
})();
