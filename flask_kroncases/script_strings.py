"""Every text the scripts show or announce, by key, in English (the catalog keys).

The scripts hold no words of their own: ``kroncases.assets()`` puts these,
looked up in the agent's language, into a ``<script id="kc-strings">`` JSON
element that ``kroncases.js``, ``cases.js`` and ``settings.js`` read. Each is a
whole sentence with named placeholders (``%(id)s``, ``%(num)d``) the script
fills, so a translation can put the words in the order its language needs.

An announcement (read by a screen reader, ends with a full stop) and a toast
(seen, no full stop) saying the same thing are two entries: the script never
edits a translated text.
"""

from __future__ import annotations

from .i18n import N_, N_plural

#: Key → English source. ``%(id)s`` is always a case number.
STRINGS: dict[str, str] = {
    # the toast, the message hint and the selection
    "show_case": N_("Show case"),
    "message_hint": N_("Press Shift+F10 or Enter for message actions."),
    "message_hint_shortcuts": N_(
        "Press Shift+F10 or Enter for message actions; j and k move, x selects, question mark lists the keys."
    ),
    "selected_mark": N_("Selected"),
    "already_logged": N_("This message is already logged under Case #%(id)s; it cannot be selected again."),
    "already_logged_toast": N_("Already logged under Case #%(id)s"),
    "selection_cleared": N_("Selection cleared."),
    # adding the selection to an existing case
    "add_targets_label": N_("Add to an existing case"),
    "add_to_case": N_("Add to Case #%(id)s"),
    "add_to_case_title": N_("Add the selected messages to Case #%(id)s: %(title)s"),
    "adding": N_("Adding…"),
    "nothing_added": N_("No message was added; reload the page and try again."),
    "offline_nothing_added": N_("Could not reach the server; nothing was added. Try again."),
    "offline_nothing_added_toast": N_("Could not reach the server; nothing was added."),
    # the context menu
    "select_message": N_("Select message"),
    "deselect_message": N_("Deselect message"),
    "open_case": N_("Open Case #%(id)s"),
    # the case form
    "check_fields": N_("Check the highlighted fields."),
    "title_too_long": N_("Shorten the title to %(max)d characters; it has %(length)d."),
    "title_at_limit": N_("Title is at the %(max)d character limit."),
    "support_request": N_("Support request"),
    "suggesting": N_("Suggesting a title and summary…"),
    "suggestion_unavailable": N_("Suggestion unavailable — write your own"),
    "suggested_here": N_("Suggested from the selected messages"),
    "summarizer_too_slow": N_("The summarizer took too long."),
    "suggested_automatically": N_("Suggested automatically"),
    "suggested_by": N_("Suggested by %(model)s"),
    "suggested": N_("Suggested"),
    "enter_title": N_("Enter a title."),
    "saving": N_("Saving…"),
    "case_created_toast": N_("Case #%(id)s created"),
    "message_already_in_case": N_("A selected message is already in a case."),
    "nothing_selectable_left": N_("No selectable messages left; close the form and select others."),
    "case_not_saved": N_("The case was not saved."),
    "offline_form": N_("Could not reach the server. What you typed is kept; try again."),
    # the panel's actions
    "working": N_("Working…"),
    "marked_pending": N_("Case #%(id)s marked pending."),
    "marked_pending_toast": N_("Case #%(id)s marked pending"),
    "marked_open": N_("Case #%(id)s marked open."),
    "marked_open_toast": N_("Case #%(id)s marked open"),
    "resolved": N_("Case #%(id)s resolved."),
    "resolved_toast": N_("Case #%(id)s resolved"),
    "reopened": N_("Case #%(id)s reopened."),
    "reopened_toast": N_("Case #%(id)s reopened"),
    "summary_requested": N_("Case #%(id)s is getting a new summary."),
    "summary_requested_toast": N_("Case #%(id)s is getting a new summary"),
    "assigned_to_you": N_("Case #%(id)s is assigned to you."),
    "assigned_to_you_toast": N_("Case #%(id)s is assigned to you"),
    "action_failed": N_("That did not work; reload the page and try again."),
    "offline": N_("Could not reach the server; try again."),
    # escalate
    "case_number": N_("Case #%(id)s"),
    "reason_required": N_("Say why the case is escalated."),
    "escalating": N_("Escalating…"),
    "escalated": N_("Case #%(id)s escalated."),
    "escalated_toast": N_("Case #%(id)s escalated"),
    "not_escalated": N_("The case was not escalated."),
    # keyboard shortcuts
    "move_first": N_("Move to a message first: j for the next, k for the previous."),
    "select_first": N_("Select messages first: x selects the message you are on."),
    "select_first_toast": N_("Select messages first (x)"),
    # the cases page (cases.js)
    "select_a_case_first": N_("Select at least one case first."),
    # the settings page (settings.js)
    "copied": N_("Copied"),
    "copy_refused": N_("Copy refused by the browser: the secret is selected, press Ctrl+C to copy it."),
}

#: Key → (singular, plural) English source; the script picks the form for its count (``%(num)d``).
PLURALS: dict[str, tuple[str, str]] = {
    "message_selected": N_plural(
        "Message selected. %(num)d message selected.", "Message selected. %(num)d messages selected."
    ),
    "message_deselected": N_plural(
        "Message deselected. %(num)d message selected.", "Message deselected. %(num)d messages selected."
    ),
    # The action bar's word after its number (the number stands in its own element).
    "selected_count_label": N_plural("message selected", "messages selected"),
    "messages_added": N_plural("%(num)d message added to Case #%(id)s.", "%(num)d messages added to Case #%(id)s."),
    "messages_added_toast": N_plural(
        "%(num)d message added to Case #%(id)s", "%(num)d messages added to Case #%(id)s"
    ),
    "menu_add_detail": N_plural("%(num)d message · %(title)s", "%(num)d messages · %(title)s"),
    "form_selection": N_plural("From %(num)d selected message", "From %(num)d selected messages"),
    "case_created": N_plural(
        "Case #%(id)s created from %(num)d message.", "Case #%(id)s created from %(num)d messages."
    ),
    # the cases page (cases.js)
    "cases_selected": N_plural("%(num)d case selected", "%(num)d cases selected"),
    "select_at_most": N_plural("Select at most %(num)d case at a time.", "Select at most %(num)d cases at a time."),
}
