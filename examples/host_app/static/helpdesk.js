// Kron Helpdesk demo: open a thread at its latest message, and the right sidebar
// toggle (person icon, top right). A plain <button> is keyboard operable; Escape
// closes the sidebar and returns focus to it.
(() => {
  "use strict";
  const thread = document.querySelector(".thread__body");
  if (thread && !location.hash) thread.scrollTop = thread.scrollHeight;

  const button = document.querySelector("[data-sidebar-toggle]");
  const sidebar = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!sidebar) return;
  const KEY = "helpdesk.sidebar";

  const setOpen = (open) => {
    button.setAttribute("aria-expanded", String(open));
    sidebar.hidden = !open;
    try { localStorage.setItem(KEY, open ? "open" : "closed"); } catch (e) { /* private mode */ }
  };

  // A case indicator links into the sidebar's panel: open the sidebar and that case.
  const revealHash = () => {
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!target || !sidebar.contains(target)) return;
    setOpen(true);
    if (target.tagName === "DETAILS") target.open = true;
    target.scrollIntoView({ block: "nearest" });
  };

  let saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { /* private mode */ }
  setOpen(saved === "open");
  revealHash();

  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  sidebar.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { setOpen(false); button.focus(); }
  });
  window.addEventListener("hashchange", revealHash);
  // flask-kroncases asks to show a case (after creating it, or "Open Case #N" in its menu).
  document.addEventListener("kroncases:reveal", (event) => {
    if (sidebar.contains(event.target)) setOpen(true);
  });
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (link && link.getAttribute("href") === location.hash) revealHash();
  });
})();
