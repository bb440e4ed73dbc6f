"""Blinker signals sent after a case change is committed.

Every signal is sent with the application as sender
(``current_app._get_current_object()``) and the keyword arguments ``case=`` (the
committed case) and ``actor=`` (the host user who made the change). Nothing is
sent for a change that was rolled back.

``case_created``
    A case was created from messages of a conversation.
``case_status_changed``
    Any status move; also ``previous=`` (the old status, a :class:`Status`).
``case_resolved``
    The case moved to ``resolved``; also ``previous=``.
``case_reopened``
    A resolved case moved back to ``open``.
``case_escalated``
    The case was escalated; also ``reason=`` (the agent's text) and ``level=``.
``case_assigned``
    The case got an owner or lost one; also ``previous=`` (the former assignee,
    a host user, or None). ``case.assignee`` is the new one (None: unassigned).
``case_updated``
    Title, type or priority changed; also ``changes=`` (``{field: (old, new)}``).
``case_messages_added``
    Messages joined an existing case; also ``messages=`` (their keys, in order).
``case_note_added``
    An internal note was left on the case; also ``note=`` (the note row).
``case_overdue``
    The worker's sweep found the case past its due time (``actor=None``); sent
    once per due time.

``webhook_endpoint_disabled``
    A webhook endpoint was switched off after failing (``endpoint=``, ``reason=``;
    no ``case`` or ``actor``).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

case_created = _signals.signal("case-created")
case_status_changed = _signals.signal("case-status-changed")
case_resolved = _signals.signal("case-resolved")
case_reopened = _signals.signal("case-reopened")
case_escalated = _signals.signal("case-escalated")
case_assigned = _signals.signal("case-assigned")
case_updated = _signals.signal("case-updated")
case_messages_added = _signals.signal("case-messages-added")
case_note_added = _signals.signal("case-note-added")
case_overdue = _signals.signal("case-overdue")
webhook_endpoint_disabled = _signals.signal("webhook-endpoint-disabled")

__all__ = [
    "case_created",
    "case_status_changed",
    "case_resolved",
    "case_reopened",
    "case_escalated",
    "case_assigned",
    "case_updated",
    "case_messages_added",
    "case_note_added",
    "case_overdue",
    "webhook_endpoint_disabled",
]
