"""The closed vocabularies of a case: type, priority, status, activity kinds."""

from __future__ import annotations

from enum import StrEnum

from .i18n import N_, gettext

#: Every label, marked for the catalogs; looked up in the reader's language when shown.
_LABELS = {
    "general": N_("General"),
    "technical": N_("Technical"),
    "billing": N_("Billing"),
    "access": N_("Access"),
    "low": N_("Low"),
    "medium": N_("Medium"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
    "open": N_("Open"),
    "pending": N_("Pending"),
    "resolved": N_("Resolved"),
    "retrying": N_("Retrying"),
    "sending": N_("Sending"),
    "delivered": N_("Delivered"),
    "failed": N_("Failed"),
}


def label_of(value: str) -> str:
    """A code's label in the reader's language (the code itself when it has none)."""
    return gettext(_LABELS[value]) if value in _LABELS else value.capitalize()


class CaseType(StrEnum):
    GENERAL = "general"
    TECHNICAL = "technical"
    BILLING = "billing"
    ACCESS = "access"

    @property
    def label(self) -> str:
        return label_of(self.value)


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def label(self) -> str:
        return label_of(self.value)


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return label_of(self.value)


class CaseAction(StrEnum):
    """A button on a case: the status it moves to, or what else it does."""

    PENDING = "pending"
    OPEN = "open"
    REOPEN = "reopen"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    SUMMARY = "summary"


class ActivityKind(StrEnum):
    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    ESCALATED = "escalated"
    SUMMARY_UPDATED = "summary_updated"
    ASSIGNED = "assigned"
    UPDATED = "updated"
    MESSAGES_ADDED = "messages_added"
    NOTE_ADDED = "note_added"
    OVERDUE = "overdue"


#: Which status each status may move to; the panel asks the case service which actions follow.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.PENDING, Status.RESOLVED}),
    Status.PENDING: frozenset({Status.OPEN, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.OPEN}),
}

#: Statuses from which a case may be escalated.
ESCALATABLE: frozenset[Status] = frozenset({Status.OPEN, Status.PENDING})

#: Label names put on a host conversation.
LABEL_SUPPORT_CASE = "support-case"
LABEL_SUPPORT_CASE_RESOLVED = "support-case-resolved"

#: How the script, the API and the case's ``message_ids`` name a conversation's opening
#: text when the host keeps it on the conversation row (the ``opening_message`` hook).
OPENING_MESSAGE = "opening"

#: The longest case title, in characters: the model, forms, API, backends and script all read this.
TITLE_MAX_LENGTH = 80

#: The case events a webhook endpoint can subscribe to.
WEBHOOK_EVENTS: tuple[str, ...] = (
    "case.created", "case.resolved", "case.escalated", "case.reopened", "case.assigned", "case.overdue",
)
#: What a new endpoint is subscribed to until an admin chooses: the spec's four events.
DEFAULT_WEBHOOK_EVENTS: tuple[str, ...] = WEBHOOK_EVENTS[:4]

#: The statuses whose cases are still being worked: they have a due time and can be overdue.
WORKING: frozenset[Status] = frozenset({Status.OPEN, Status.PENDING})

#: The longest internal note on a case, in characters (after trimming).
NOTE_MAX_LENGTH = 5000
#: Sent only by "Send test event" on the settings page.
TEST_EVENT = "ping"


class DeliveryStatus(StrEnum):
    """Where a webhook delivery (one event for one endpoint) stands."""

    PENDING = "pending"
    RETRYING = "retrying"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return label_of(self.value)


class AttemptOutcome(StrEnum):
    """What one attempt at a delivery came to, as logged; also what a delivery job returns."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DISABLE = "disable"
    FAILED = "failed"
    #: Its worker died before it finished: the sweeper took the delivery back.
    LOST = "lost"
    #: Not an attempt: another job had the delivery, or it was not due (never logged).
    SKIPPED = "skipped"


#: Delivery statuses a job may claim.
CLAIMABLE: tuple[DeliveryStatus, ...] = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
