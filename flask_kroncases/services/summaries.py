"""Suggested titles and summaries, made by jobs so the case form never waits.

Opening the case form asks for a suggestion: a row is written and a job fills
it in; the form polls the row. A case saved without a summary gets one the
same way. A backend that fails or times out is replaced by the offline one and
the row says so; the agent can always save.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ..enums import OPENING_MESSAGE, ActivityKind, Status
from ..errors import CaseError
from ..hooks import HostHooks, SummaryInput
from ..i18n import N_
from ..i18n import gettext as _
from ..jobs import suggest as suggest_job
from ..jobs import summarize_case as summarize_case_job
from ..models import Models, host_time, utcnow
from ..queueing import EnqueueError, JobQueue
from ..summarizers import Suggestion, SummarizerError, get_summarizer
from ..summarizers.offline import OfflineSummarizer
from .base import Service
from .cases import NO_CASE, CaseService
from .serialization import json_key
from .unit_of_work import NothingChanged

log = logging.getLogger("flask_kroncases.summaries")

#: Suggestions older than this are deleted when new ones are made.
SUGGESTION_TTL = timedelta(days=1)

#: A suggestion id as :meth:`SummaryService.request_suggestion` makes them.
_SUGGESTION_ID = re.compile(r"[0-9a-f]{32}")
NO_SUGGESTION = N_("This suggestion does not exist or has expired.")


class SummaryService(Service):
    """Suggestions for the case form, and summaries for saved cases."""

    def __init__(self, db: Any, models: Models, hooks: HostHooks, cases: CaseService, jobs: JobQueue) -> None:
        super().__init__(db, models)
        self.hooks = hooks
        self.cases = cases
        self.jobs = jobs

    # -- the case form's suggestion ------------------------------------------

    def request_suggestion(self, conversation: Any, messages: Iterable[Any], *, by: Any) -> Any:
        """Start a suggestion for the selected messages; the returned row fills in later."""
        conversation = self.cases.conversation(conversation)
        actor = self.cases.authorize(by, conversation)
        selected = self.cases.select_messages(conversation, messages)
        host = self.models.host
        Suggestion_ = self.models.Suggestion
        self.session.execute(
            sa.delete(Suggestion_).where(Suggestion_.created_at < utcnow() - SUGGESTION_TTL)
        )
        row = Suggestion_(
            id=uuid.uuid4().hex,
            conversation_id=self.cases.conversation_key(conversation),
            requested_by_id=host.user.key_of(actor),
            message_ids=[OPENING_MESSAGE if isinstance(m, SummaryInput) else json_key(host.message.key_of(m))
                         for m in selected],
            status="pending",
            created_at=utcnow(),
        )
        self.session.add(row)
        self.session.commit()
        try:
            self.jobs.enqueue(suggest_job, row.id)
        except EnqueueError as exc:
            log.warning("suggestion %s made in the request, the queue is unreachable: %s", row.id, exc)
            self.run_suggestion(row.id)
        return row

    def get_suggestion(self, suggestion_id: Any, *, by: Any) -> Any:
        """A suggestion its requester (or anyone who may see the conversation) may read."""
        well_formed = isinstance(suggestion_id, str) and _SUGGESTION_ID.fullmatch(suggestion_id)
        row = self.session.get(self.models.Suggestion, suggestion_id) if well_formed else None
        if row is None:
            raise CaseError(_(NO_SUGGESTION), kind="not_found")
        conversation = self.session.get(self.models.host.conversation.model, row.conversation_id)
        self.cases.authorize(by, conversation, not_found=NO_SUGGESTION)
        return row

    def run_suggestion(self, suggestion_id: str) -> Any:
        """The job: fill in one suggestion row."""
        row = self.session.get(self.models.Suggestion, suggestion_id)
        if row is None or row.status != "pending":
            return row
        messages = self._load_messages(row.message_ids, row.conversation_id)
        suggestion, error = self.suggest(messages)
        row.title, row.summary, row.source = suggestion.title, suggestion.summary, suggestion.source
        row.case_type, row.priority = suggestion.case_type, suggestion.priority
        row.error = error
        row.status = "done"
        row.finished_at = utcnow()
        self.session.commit()
        return row

    # -- summaries of saved cases ----------------------------------------------

    def schedule_case_summary(self, case: Any, *, overwrite: bool = False, by: Any = None) -> None:
        """Have a job write the case's summary; without a queue, write an offline one now."""
        actor_key = json_key(self.models.host.user.key_of(by)) if by is not None else None
        try:
            self.jobs.enqueue(summarize_case_job, case.id, overwrite, actor_key)
        except EnqueueError as exc:
            log.warning("case %s summarized in the request, the queue is unreachable: %s", case.id, exc)
            self.summarize_case(case.id, overwrite=overwrite, actor_key=actor_key, offline_only=True)

    def regenerate(self, case: Any, *, by: Any) -> Any:
        """The "Regenerate summary" action: replace the summary by a fresh one, in a job."""
        case = self.cases.get_case(case)
        actor = self.cases.authorize(by, case.conversation, not_found=NO_CASE)
        self.schedule_case_summary(case, overwrite=True, by=actor)
        return case

    def summarize_case(
        self, case_id: int, *, overwrite: bool = False, actor_key: Any = None, offline_only: bool = False
    ) -> str:
        """The job: write a summary (and an activity entry) unless someone wrote one meanwhile.

        The summary is written with a plain UPDATE that leaves the case's version
        alone: a summary arriving must not make the agent's next status move a
        conflict.
        """
        Case = self.models.Case
        case = self.session.get(Case, case_id)
        if case is None:
            return "gone"
        if case.summary and not overwrite:
            return "kept"
        opening = self.hooks.read_opening(case.conversation) if case.includes_opening else None
        messages = [*([opening] if opening else []), *(link.message for link in case.message_links)]
        suggestion, error = self.suggest(messages, offline_only=offline_only)
        actor = self.session.get(self.models.host.user.model, actor_key) if actor_key is not None else None
        change = self.cases.work.change(case, actor, while_doing="summarized")

        def write() -> None:
            update = (
                sa.update(Case)
                .where(Case.id == case_id)
                .values(summary=suggestion.summary, summary_by_agent=False, updated_at=change.now)
            )
            if not overwrite:
                update = update.where(sa.or_(Case.summary.is_(None), Case.summary == ""))
            if self.session.execute(update.execution_options(synchronize_session=False)).rowcount != 1:
                raise NothingChanged

        status = Status(case.status)
        change.rows(write).activity(
            ActivityKind.SUMMARY_UPDATED, from_status=status, to_status=status,
            detail={"source": suggestion.source, **({"error": error} if error else {})},
        )
        try:
            change.commit()
        except NothingChanged:
            return "kept"
        return suggestion.source

    # -- the summarizer ---------------------------------------------------------

    def suggest(self, messages: Iterable[Any], *, offline_only: bool = False) -> tuple[Suggestion, str | None]:
        """Ask the configured backend; on failure, the offline one and a note why."""
        inputs = self.inputs(messages)
        config = current_app.config
        name = "offline" if offline_only else config["KRONCASES_SUMMARIZER"]
        try:
            return get_summarizer(name, config).suggest(inputs), None
        except SummarizerError as exc:
            log.warning("summarizer %r failed, using the offline one: %s", name, exc)
            note = f"The AI summarizer is unavailable ({exc}); this is the offline suggestion."
            return OfflineSummarizer().suggest(inputs), note

    def inputs(self, messages: Iterable[Any]) -> list[SummaryInput]:
        """Host messages as summarizer input, oldest first when times are known."""
        inputs = [m if isinstance(m, SummaryInput) else self.hooks.read_message(m) for m in messages]
        zone = self.config["KRONCASES_HOST_TIMEZONE"]
        times = [host_time(i.sent_at, zone) for i in inputs]
        if all(t is not None for t in times):  # naive and aware times compare once both are UTC
            order = sorted(range(len(inputs)), key=lambda n: times[n])  # type: ignore[arg-type, return-value]
            inputs = [inputs[n] for n in order]
        return inputs

    def _load_messages(self, keys: list[Any], conversation_key: Any) -> list[Any]:
        """The suggestion's messages again; the opening text (``"opening"``) as the hook reads it now."""
        opening: list[Any] = []
        if OPENING_MESSAGE in keys:
            conversation = self.session.get(self.models.host.conversation.model, conversation_key)
            found_opening = self.hooks.read_opening(conversation) if conversation is not None else None
            opening = [found_opening] if found_opening is not None else []
            keys = [k for k in keys if k != OPENING_MESSAGE]
        host = self.models.host.message
        coerced = [host.coerce_key(k) for k in keys]
        found = {
            host.key_of(m): m
            for m in self.session.scalars(sa.select(host.model).where(host.pk_column.in_(coerced)))
        }
        return opening + [found[k] for k in coerced if k in found]
