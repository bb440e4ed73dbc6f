"""Activity entries: the history of every case, shown in the conversation thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..enums import ActivityKind, Status
from ..models import Models


def record(
    session: Any,
    models: Models,
    case: Any,
    actor: Any,
    kind: ActivityKind,
    *,
    from_status: Status | None = None,
    to_status: Status | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime,
) -> Any:
    """Add one entry to the session; the caller's transaction commits it."""
    entry = models.CaseActivity(
        case_id=case.id,
        conversation_id=case.conversation_id,
        actor_id=models.host.user.key_of(actor) if actor is not None else None,
        kind=kind.value,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        detail=detail or {},
        created_at=at,
    )
    session.add(entry)
    return entry


def for_conversation(session: Any, models: Models, conversation_key: Any) -> list[Any]:
    Activity = models.CaseActivity
    return list(
        session.scalars(
            sa.select(Activity)
            .where(Activity.conversation_id == conversation_key)
            .order_by(Activity.created_at, Activity.id)
        )
    )
