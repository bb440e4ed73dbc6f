// flask-kroncases: the settings page's "Copy secret" button, for a secret shown once after create or
// rotate. Loaded by that page only, and only when it shows a secret. Without this script the button
// stays hidden and the secret stays selectable text in a read-only field.
(() => {
  "use strict";

  // The texts come from the page, in the agent's language (kroncases.assets(): <script id="kc-strings">);
  // this file holds none. t(key, vars) fills their %(name)s / %(name)d placeholders.
  const TEXTS = (() => {
    const el = document.getElementById("kc-strings");
    let found = null;
    try { found = el ? JSON.parse(el.textContent) : null; } catch (error) { found = null; }
    return Object.assign({ locale: "en", strings: {}, plurals: {} }, found);
  })();
  const fill = (text, vars = {}) => text.replace(/%(?:\((\w+)\)[sd]|%)/g,
    (found, name) => (name === undefined ? "%" : name in vars ? String(vars[name]) : found));
  const t = (key, vars) => fill(TEXTS.strings[key] || key, vars);

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
