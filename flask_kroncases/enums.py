"""The closed vocabularies of a case: type, priority, status, activity kinds."""

from __future__ import annotations

from enum import StrEnum


class CaseType(StrEnum):
    GENERAL = "general"
    TECHNICAL = "technical"
    BILLING = "billing"
    ACCESS = "access"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ActivityKind(StrEnum):
    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    ESCALATED = "escalated"
    SUMMARY_UPDATED = "summary_updated"


#: Which status each status may move to (DESIGN.md §1 "Status moves").
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

TITLE_MAX_LENGTH = 80
