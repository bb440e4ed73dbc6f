// flask-kroncases: the settings page's "Copy secret" button, for a secret shown once after create or
// rotate. Loaded by that page only, and only when it shows a secret. Without this script the button
// stays hidden and the secret stays selectable text in a read-only field.
(() => {
  "use strict";

  // The texts, in the agent's language: kroncases.js's t(key, vars) and tn(key, n, vars), over the
  // page's <script id="kc-strings"> (kroncases.assets(), which loads kroncases.js before this file).
  // Without them this page stays as it works without the script.
  if (!window.KronCasesTexts) return;
  const { t } = window.KronCasesTexts;

  /** Copy through the Clipboard API; where it is missing (plain http), through a selection. */
  function copy(field) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(field.value);
    return new Promise((resolve, reject) => {
      field.focus();
      field.select();
      let done = false;
      try { done = document.execCommand("copy"); } catch (error) { done = false; }
      if (done) resolve(); else reject(new Error("execCommand"));
    });
  }

  document.querySelectorAll("[data-kc-copy]").forEach((button) => {
    const field = document.getElementById(button.dataset.kcCopy);
    const status = button.parentElement.querySelector("[data-kc-copy-status]");
    if (!field || !status) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      status.textContent = "";
      copy(field).then(
        () => { status.textContent = t("copied"); },
        () => {
          // The browser refused: leave the secret selected so Ctrl+C / Cmd+C copies it.
          field.focus();
          field.select();
          status.textContent = t("copy_refused");
        },
      );
    });
  });
})();
