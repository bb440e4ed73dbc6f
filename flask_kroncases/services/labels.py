"""Conversation labels: ``support-case`` and ``support-case-resolved``, kept as an audit record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..models import Models


def add(session: Any, models: Models, case: Any, name: str, actor: Any, *, at: datetime) -> Any:
    """Put ``name`` on the case's conversation, recording who, when and which case."""
    label = models.ConversationLabel(
        conversation_id=case.conversation_id,
        name=name,
        case_id=case.id,
        created_by_id=models.host.user.key_of(actor) if actor is not None else None,
        created_at=at,
    )
    session.add(label)
    return label


def exists(session: Any, models: Models, case: Any, name: str) -> bool:
    Label = models.ConversationLabel
    query = sa.select(Label.id).where(Label.case_id == case.id, Label.name == name).limit(1)
    return session.execute(query).first() is not None


def labels_for(session: Any, models: Models, conversation_keys: Sequence[Any]) -> dict[Any, list[str]]:
    """Sorted label names for each key (empty list for none), in one query."""
    result: dict[Any, list[str]] = {key: [] for key in conversation_keys if key is not None}
    if not result:
        return result
    Label = models.ConversationLabel
    rows = session.execute(
        sa.select(Label.conversation_id, Label.name)
        .where(Label.conversation_id.in_(list(result)))
        .distinct()
        .order_by(Label.conversation_id, Label.name)
    )
    for key, name in rows:
        result.setdefault(key, []).append(name)
    return result
