// flask-kroncases: the cases page's selection. Without this script the page works the same,
// one checkbox at a time; with it, "Select all on this page" appears, the bulk bar counts the
// selection, and an empty or oversized selection is refused before the form is sent.
(() => {
  "use strict";

  // The texts, in the agent's language: kroncases.js's t(key, vars) and tn(key, n, vars), over the
  // page's <script id="kc-strings"> (kroncases.assets(), which loads kroncases.js before this file).
  // Without them this page stays as it works without the script.
  if (!window.KronCasesTexts) return;
  const { t, tn } = window.KronCasesTexts;

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
