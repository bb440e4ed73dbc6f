"""One unit of work for every case change.

Every operation that changes a case — create, status moves, escalate, reopen,
summary updates, and whatever comes next — goes through :class:`CaseChange`,
in this order:

    validate (the caller, before a change is begun) → rows → activity → labels
    → outbox rows → commit → enqueue deliveries → after-commit work → signals

so that a refused change leaves nothing in the session, the webhook rows are
committed with the change they report (or not at all), and a signal receiver
always sees committed rows.

A new case is kept loaded through its commit (the commit expires every object
of the session): nobody else can have changed its rows before they were
committed, so what was written is what the reply and the signal receivers read,
without a query. A change to a saved case is read again when it is next used,
as the session would: a summary job may have written to the row meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from ..enums import ActivityKind, Status
from ..errors import CaseError
from ..i18n import N_
from ..i18n import gettext as _
from ..models import Models, utcnow
from . import activity as activity_service
from . import labels as label_service
from .base import Service
from .delivery import DeliveryService

#: What could not be done to a saved case, by ``while_doing``: a whole sentence each, for the translators.
_COULD_NOT = {
    "marked open": N_("Case #%(id)s could not be marked open."),
    "marked pending": N_("Case #%(id)s could not be marked pending."),
    "marked resolved": N_("Case #%(id)s could not be resolved."),
    "escalated": N_("Case #%(id)s could not be escalated."),
    "assigned": N_("Case #%(id)s could not be assigned."),
    "changed": N_("Case #%(id)s could not be changed."),
    "given more messages": N_("Case #%(id)s could not be given more messages."),
    "given a note": N_("Case #%(id)s could not be given a note."),
    "marked overdue": N_("Case #%(id)s could not be marked overdue."),
    "summarized": N_("Case #%(id)s could not be summarized."),
}


class NothingChanged(Exception):
    """Raised by a row writer to give up quietly: the transaction is rolled back, no error shown."""


@dataclass
class _Activity:
    kind: ActivityKind
    from_status: Status | None
    to_status: Status | None
    detail: dict[str, Any] | None


@dataclass
class CaseChange:
    """The parts of one case change, written by :meth:`commit`."""

    work: UnitOfWork
    case: Any
    actor: Any
    #: What the change does, as a refusal names it: a key of ``_COULD_NOT`` ("escalated", "marked open" ...).
    while_doing: str
    new: bool = False
    now: datetime = field(default_factory=utcnow)
    _writers: list[Callable[[], None]] = field(default_factory=list)
    _activity: list[_Activity] = field(default_factory=list)
    _labels: list[str] = field(default_factory=list)
    _events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)
    _signals: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def rows(self, writer: Callable[[], None]) -> CaseChange:
        """Change the case's own rows; runs inside the transaction, before anything else."""
        self._writers.append(writer)
        return self

    def activity(
        self,
        kind: ActivityKind,
        *,
        from_status: Status | None = None,
        to_status: Status | None = None,
        detail: dict[str, Any] | None = None,
    ) -> CaseChange:
        self._activity.append(_Activity(kind, from_status, to_status, detail))
        return self

    def label(self, name: str) -> CaseChange:
        self._labels.append(name)
        return self

    def event(self, event_type: str, **extra: Any) -> CaseChange:
        """A webhook event: one outbox row per subscribed endpoint, in the same transaction."""
        self._events.append((event_type, extra))
        return self

    def after_commit(self, work: Callable[[], None]) -> CaseChange:
        self._after_commit.append(work)
        return self

    def signal(self, signal: Any, **kwargs: Any) -> CaseChange:
        """A blinker signal sent after commit with ``case=`` and ``actor=`` added."""
        self._signals.append((signal, kwargs))
        return self

    def commit(self) -> Any:
        """Write everything in one transaction, then enqueue, then send the signals."""
        session = self.work.session
        models = self.work.models
        case = self.case
        endpoint_ids: list[int] = []
        kept: _Kept | None = None
        try:
            with session.no_autoflush:
                if self.new:
                    session.add(case)
                for writer in self._writers:
                    writer()
            if self.new:
                session.flush()  # the case's id, for the rows that point at it
            with session.no_autoflush:
                for entry in self._activity:
                    activity_service.record(
                        session, models, case, self.actor, entry.kind,
                        from_status=entry.from_status, to_status=entry.to_status,
                        detail=entry.detail, at=self.now,
                    )
                for name in self._labels:
                    label_service.add(session, models, case, name, self.actor, at=self.now)
                for event_type, extra in self._events:
                    endpoint_ids += self.work.delivery.record_event(event_type, case, self.actor, **extra)
            if self.new:
                session.flush()  # all of it, so what is kept is what the commit writes
                kept = _Kept(case)
            session.commit()
        except NothingChanged:
            session.rollback()
            raise
        except StaleDataError as exc:
            session.rollback()
            stale = (N_("The case was changed by someone else meanwhile; reload it and try again.") if self._unsaved()
                     else N_("Case #%(id)s was changed by someone else meanwhile; reload it and try again."))
            raise CaseError(_(stale, id=case.id), kind="conflict") from exc
        except IntegrityError as exc:
            session.rollback()
            raise CaseError(
                self._could_not() + " "
                + _("One of its messages was just added to another case. Reload the conversation and try again."),
                kind="conflict",
                errors={"messages": [_("A selected message was just added to another case.")]},
            ) from exc
        except DataError as exc:
            session.rollback()
            raise CaseError(self._could_not() + " " + _("The database refused a value.")) from exc
        except BaseException:
            session.rollback()
            raise

        if kept is not None:
            kept.restore()
        self.work.delivery.dispatch_to(endpoint_ids)
        for work in self._after_commit:
            work()
        sender = current_app._get_current_object()  # type: ignore[attr-defined]
        for signal, kwargs in self._signals:
            signal.send(sender, case=case, actor=self.actor, **kwargs)
        return case

    def _unsaved(self) -> bool:
        return self.case.id is None or self.new

    def _could_not(self) -> str:
        """What failed, as one sentence: "Case #3 could not be escalated." """
        if self._unsaved():
            return (_("The case could not be created.")
                    if self.while_doing == "created" else _("The case was not saved."))
        return _(_COULD_NOT.get(self.while_doing, N_("Case #%(id)s could not be changed.")), id=self.case.id)


class _Kept:
    """A new case, its loaded relations and their objects, as written: put back after the commit.

    ``Session.commit`` expires every object; reading the case afterwards would
    send a query for the case, one for its message links and one for its
    conversation. Only values the session holds are kept (an attribute the
    database computed on write was expired by the flush and is loaded as usual).
    """

    def __init__(self, case: Any) -> None:
        state: Any = sa.inspect(case)
        self.relations: list[tuple[str, Any]] = []
        related = [case]
        for rel in state.mapper.relationships:
            if rel.key not in state.dict:
                continue
            value = state.dict[rel.key]
            if isinstance(value, list):
                value = list(value)
                related += value
            elif value is not None:
                related.append(value)
            self.relations.append((rel.key, value))
        self.case = case
        self.columns = [(obj, _columns(obj)) for obj in related]

    def restore(self) -> None:
        for obj, values in self.columns:
            for key, value in values.items():
                set_committed_value(obj, key, value)
        for key, value in self.relations:
            set_committed_value(self.case, key, value)


def _columns(obj: Any) -> dict[str, Any]:
    """The column values the session holds for ``obj``."""
    state: Any = sa.inspect(obj)
    return {attr.key: state.dict[attr.key] for attr in state.mapper.column_attrs if attr.key in state.dict}


class UnitOfWork(Service):
    """Begins case changes on the host's session; shared by every case service."""

    def __init__(self, db: Any, models: Models, delivery: DeliveryService) -> None:
        super().__init__(db, models)
        self.delivery = delivery


    def change(self, case: Any, actor: Any, *, while_doing: str, new: bool = False) -> CaseChange:
        return CaseChange(self, case, actor, while_doing, new=new)
