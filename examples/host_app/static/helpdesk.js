// Kron Helpdesk demo: open a thread at its latest message, and the right sidebar.
// The sidebar opens only when the agent asks: its toggle (the person icon, top right), a case
// indicator, "Open Case #N", the toast's "Show case"; a case that was just created or changed
// does not open it. Wider than 1100px it is a column beside the thread whose open/closed state
// is remembered. At 1100px and less it is a drawer over the thread's messages and no trap: it
// always starts closed; its close button, Escape from anywhere, a click outside and the keyboard
// leaving it close it; it never covers its toggle, the dock or the reply box (its top and bottom follow the
// messages' box).
(() => {
  "use strict";
  // On a phone the nav is one row that scrolls sideways: bring the current page's link into it.
  const current = document.querySelector(".nav [aria-current='page']");
  if (current) current.scrollIntoView({ block: "nearest", inline: "nearest" });
  const thread = document.querySelector(".thread__body");
  if (thread && !location.hash) thread.scrollTop = thread.scrollHeight;

  const button = document.querySelector("[data-sidebar-toggle]");
  const sidebar = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!sidebar) return;
  const closeButton = sidebar.querySelector("[data-sidebar-close]");
  const KEY = "helpdesk.sidebar";
  const narrow = window.matchMedia("(max-width: 1100px)");
  const isDrawer = () => narrow.matches;
  const isOpen = () => !sidebar.hidden;

  const remembered = () => {
    try { return localStorage.getItem(KEY) === "open"; } catch (e) { return false; /* private mode */ }
  };
  const remember = (open) => {
    try { localStorage.setItem(KEY, open ? "open" : "closed"); } catch (e) { /* private mode */ }
  };

  /** The drawer covers the messages' box, nothing above or below it. */
  const fit = () => {
    if (!thread) return;
    const box = thread.getBoundingClientRect();
    sidebar.style.setProperty("--drawer-top", `${Math.max(0, box.top)}px`);
    sidebar.style.setProperty("--drawer-bottom", `${Math.max(0, window.innerHeight - box.bottom)}px`);
  };

  /** ``byAgent``: the agent chose this with the toggle, the close button or Escape (a column's state is kept). */
  const setOpen = (open, byAgent = false) => {
    if (open) fit();
    button.setAttribute("aria-expanded", String(open));
    sidebar.hidden = !open;
    if (byAgent && !isDrawer()) remember(open);
  };

  const close = (byAgent) => {
    const hadFocus = sidebar.contains(document.activeElement);
    setOpen(false, byAgent);
    if (hadFocus) button.focus();
  };

  // A case indicator links into the sidebar's panel: open the sidebar and that case.
  const revealHash = () => {
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (!target || !sidebar.contains(target)) return;
    setOpen(true);
    if (target.tagName === "DETAILS") target.open = true;
    target.scrollIntoView({ block: "nearest" });
  };

  setOpen(!isDrawer() && remembered());
  revealHash();

  button.addEventListener("click", () => {
    const open = !isOpen();
    setOpen(open, true);
    // A drawer takes the keyboard along (no trap: Tab goes on, Escape comes back here).
    if (open && isDrawer() && closeButton) closeButton.focus();
  });
  if (closeButton) closeButton.addEventListener("click", () => close(true));
  sidebar.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented && !isDrawer()) { event.preventDefault(); close(true); }
  });
  // The drawer: Escape from anywhere (unless a dialog or a menu has it: theirs first), a click outside.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || !isDrawer() || !isOpen()) return;
    if (document.querySelector("dialog[open]") || (event.target.closest && event.target.closest("[role=menu]"))) return;
    event.preventDefault(); // one Escape, one thing: a selection behind the drawer stays
    close(true);
  }, true);
  // Outside: not the drawer, its toggle, or a dialog or menu over the page (the panel's Escalate dialog).
  const outside = (target) => !sidebar.contains(target) && !button.contains(target)
    && !(target.closest && target.closest("dialog, [role=menu]"));
  document.addEventListener("pointerdown", (event) => {
    if (isDrawer() && isOpen() && outside(event.target)) close(true);
  }, true);
  // Tab on past it (or back) closes it too: a drawer left open would hide what the keyboard is on.
  document.addEventListener("focusin", (event) => {
    if (isDrawer() && isOpen() && outside(event.target)) setOpen(false, true);
  });
  // A column that no longer fits becomes a closed drawer; back to a column, the agent's choice returns.
  narrow.addEventListener("change", () => setOpen(!isDrawer() && remembered()));
  window.addEventListener("resize", fit);
  if (thread && window.ResizeObserver) new ResizeObserver(fit).observe(thread);

  window.addEventListener("hashchange", revealHash);
  // flask-kroncases asks to show a case: the agent asked for it ("Open Case #N", a followed
  // indicator, "Show case"), or it just changed (created, messages added). Only the first opens
  // the sidebar; for the second the extension offers "Show case" in its toast.
  document.addEventListener("kroncases:reveal", (event) => {
    if (sidebar.contains(event.target) && event.detail && event.detail.requested) setOpen(true);
  });
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (link && link.getAttribute("href") === location.hash) revealHash();
  });
})();
