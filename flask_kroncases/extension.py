"""The ``KronCases`` extension: wiring into a host app, host hooks, public service API."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from . import i18n
from .config import apply_defaults
from .enums import CaseType, Priority, label_of
from .hooks import (
    AccessCheck,
    AdminCheck,
    HostHooks,
    MessageReader,
    NameOf,
    OpeningReader,
    SummaryInput,
    UrlBuilder,
    VisibleClause,
)
from .models import HostSchema, Models, define_models
from .queueing import JobQueue
from .services.cases import CaseService
from .services.delivery import DeliveryService
from .services.due import check_due_after
from .services.endpoints import EndpointService
from .services.reports import Report, ReportService
from .services.summaries import SummaryService

log = logging.getLogger("flask_kroncases")

_SCHEMA_ARGS = (
    "db",
    "conversation_model",
    "message_model",
    "user_model",
    "message_conversation_attr",
    "table_prefix",
)


@dataclass
class KronCasesState:
    """What one app knows of the extension: stored in ``app.extensions["kroncases"]``."""

    extension: KronCases
    db: Any
    models: Models
    hooks: HostHooks
    service: CaseService
    endpoints: EndpointService
    delivery: DeliveryService
    summaries: SummaryService
    jobs: JobQueue
    reports: ReportService


class KronCases:
    """Support cases for a Flask helpdesk, on the host's own tables.

    ``db`` is the host's ``flask_sqlalchemy.SQLAlchemy`` instance; the three
    models are the host's conversation, message and user models. These may be
    given here or to :meth:`init_app`. One instance may serve several apps;
    host hooks registered with the decorators below are shared by them.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: Any = None,
        conversation_model: type | None = None,
        message_model: type | None = None,
        user_model: type | None = None,
        message_conversation_attr: str | None = None,
        table_prefix: str = "kroncases_",
    ) -> None:
        self._schema_defaults: dict[str, Any] = {
            "db": db,
            "conversation_model": conversation_model,
            "message_model": message_model,
            "user_model": user_model,
            "message_conversation_attr": message_conversation_attr,
            "table_prefix": table_prefix,
        }
        #: The host's callbacks; the services receive this object, never the extension.
        self.hooks = HostHooks()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, **schema: Any) -> None:
        """Register the extension on ``app``.

        Keyword arguments override those given to the constructor: ``db``,
        ``conversation_model``, ``message_model``, ``user_model``,
        ``message_conversation_attr`` (inferred from the message's foreign key
        to the conversation when there is exactly one) and ``table_prefix``.

        Sets every ``KRONCASES_*`` key the host left out to its default in
        :mod:`flask_kroncases.config` (the README lists them all).
        """
        if "kroncases" in app.extensions:
            raise RuntimeError(
                "A 'KronCases' instance has already been registered on this Flask app. "
                "Import and use that instance instead."
            )
        unknown = set(schema) - set(_SCHEMA_ARGS)
        if unknown:
            raise TypeError(f"init_app() got unexpected keyword arguments {sorted(unknown)}")
        options = {**self._schema_defaults, **{k: v for k, v in schema.items() if v is not None}}
        required = ("db", "conversation_model", "message_model", "user_model")
        missing = [name for name in required if options[name] is None]
        if missing:
            raise TypeError("KronCases needs " + ", ".join(f"{name}=" for name in missing))

        apply_defaults(app.config)
        check_due_after(app.config)
        host = HostSchema.inspect(
            options["conversation_model"],
            options["message_model"],
            options["user_model"],
            options["message_conversation_attr"],
        )
        models = define_models(options["db"], host, options["table_prefix"])
        plan = self.hooks.reading_plan(options["message_model"])
        if plan:
            log.warning(plan)
        db = options["db"]
        job_queue = JobQueue(app)
        delivery = DeliveryService(db, models, self.hooks, job_queue)
        service = CaseService(db, models, self.hooks, delivery)
        summaries = SummaryService(db, models, self.hooks, service, job_queue)
        service.schedule_summary = summaries.schedule_case_summary
        app.extensions["kroncases"] = KronCasesState(
            extension=self,
            db=db,
            models=models,
            hooks=self.hooks,
            service=service,
            endpoints=EndpointService(db, models, delivery),
            delivery=delivery,
            summaries=summaries,
            jobs=job_queue,
            reports=ReportService(db, models, self.hooks, service),
        )

        from .blueprints import register_blueprints
        from .cli import cli
        from .templating import TemplateHelpers

        register_blueprints(app)
        app.cli.add_command(cli)
        app.jinja_env.globals["kroncases"] = TemplateHelpers()
        # Our templates' gettext: our own catalogs, whatever the host's templates use.
        app.jinja_env.globals.update(
            _kc=i18n.gettext, _kcn=i18n.ngettext, _kc_label=label_of, _kc_number=i18n.format_number
        )

    # -- host hooks: decorators that fill in ``self.hooks`` ------------------

    def conversation_access(self, fn: AccessCheck) -> AccessCheck:
        """Register ``fn(user, conversation) -> bool``: may this user see this conversation?

        Until one is registered, every conversation is refused. Asked at most
        once per conversation and request.
        """
        self.hooks.conversation_access = fn
        return fn

    def admin_check(self, fn: AdminCheck) -> AdminCheck:
        """Register ``fn(user) -> bool``: may this user configure webhooks?"""
        self.hooks.admin_check = fn
        return fn

    def conversation_url(self, fn: UrlBuilder) -> UrlBuilder:
        """Register ``fn(conversation) -> str``: the host's URL of a conversation.

        A relative URL is joined to ``KRONCASES_BASE_URL`` in webhook bodies.
        """
        self.hooks.conversation_url = fn
        return fn

    def message_url(self, fn: UrlBuilder) -> UrlBuilder:
        """Register ``fn(message) -> str``: the host's URL of one message (optional).

        For paginated threads: a link to a case lands on the page that holds its
        first message. Without it, links go to the conversation's URL with a
        ``#kc-message-<id>`` fragment.
        """
        self.hooks.message_url = fn
        return fn

    def user_name(self, fn: NameOf) -> NameOf:
        """Register ``fn(user) -> str``: how an agent is named in activity entries."""
        self.hooks.user_name = fn
        return fn

    def visible_conversations(self, fn: VisibleClause) -> VisibleClause:
        """Register ``fn(user) -> SQL condition`` on the conversation model (optional).

        The same rule as ``conversation_access``, as a ``WHERE`` clause, so the
        cases page can filter and paginate in SQL. Without it the page asks
        ``conversation_access`` once per conversation that has cases.
        """
        self.hooks.visible_conversations = fn
        return fn

    def message_reader(self, fn: MessageReader) -> MessageReader:
        """Register ``fn(message) -> SummaryInput``: a host message's author role, text and time.

        Without one, the usual attribute names are tried (``body``/``text``/``content``,
        ``author_role``/``role``, ``created_at``/``sent_at``/``posted_at``).
        """
        self.hooks.message_reader = fn
        return fn

    def opening_message(self, fn: OpeningReader) -> OpeningReader:
        """Register ``fn(conversation) -> SummaryInput | None``: the opening text kept on the conversation row.

        For helpdesks whose first message is a column of the ticket, not a row
        of the message table. It is then selectable (``kroncases.opening_attrs``),
        summarized, indicated and linked like a message; the API and
        ``case.message_ids`` name it ``"opening"``.
        """
        self.hooks.opening_message = fn
        return fn

    def read_message(self, message: Any) -> SummaryInput:
        """What the summarizers and the thread see of a host message."""
        return self.hooks.read_message(message)

    def display_name(self, user: Any) -> str:
        """How ``user`` is named in activity entries and webhook bodies."""
        return self.hooks.display_name(user)

    # -- per-app state ---------------------------------------------------

    @property
    def state(self) -> KronCasesState:
        try:
            return current_app.extensions["kroncases"]  # type: ignore[no-any-return]
        except KeyError:
            raise RuntimeError(
                "The current Flask app is not registered with this 'KronCases' instance. "
                "Did you forget to call 'init_app', or did you create multiple instances?"
            ) from None

    @property
    def models(self) -> Models:
        return self.state.models

    @property
    def service(self) -> CaseService:
        return self.state.service

    # -- the public service API ---------------------------------------------

    def create_case(
        self,
        conversation: Any,
        messages: Iterable[Any],
        *,
        title: str,
        case_type: str | CaseType = CaseType.GENERAL,
        priority: str | Priority = Priority.MEDIUM,
        summary: str | None = None,
        summary_is_suggestion: bool = False,
        by: Any,
    ) -> Any:
        return self.service.create_case(
            conversation, messages, title=title, case_type=case_type,
            priority=priority, summary=summary, summary_is_suggestion=summary_is_suggestion, by=by,
        )

    def set_status(self, case: Any, status: str, *, by: Any) -> Any:
        return self.service.set_status(case, status, by=by)

    def resolve(self, case: Any, *, by: Any) -> Any:
        return self.service.resolve(case, by=by)

    def reopen(self, case: Any, *, by: Any) -> Any:
        return self.service.reopen(case, by=by)

    def escalate(self, case: Any, *, by: Any, reason: str) -> Any:
        return self.service.escalate(case, by=by, reason=reason)

    def get_case(self, case: Any, *, by: Any = None) -> Any:
        return self.service.get_case(case, by=by)

    def assign(self, case: Any, assignee: Any, *, by: Any) -> Any:
        """Give the case an owner (a host user or its key) who may see its conversation; None unassigns."""
        return self.service.assign(case, assignee, by=by)

    def update(
        self, case: Any, *, by: Any, title: str | None = None, case_type: str | CaseType | None = None,
        priority: str | Priority | None = None,
    ) -> Any:
        """Change any of title, type and priority; a priority change moves the due time."""
        return self.service.update(case, by=by, title=title, case_type=case_type, priority=priority)

    def add_messages(self, case: Any, messages: Iterable[Any], *, by: Any) -> Any:
        """Add messages of the case's conversation that are in no case yet."""
        return self.service.add_messages(case, messages, by=by)

    def add_note(self, case: Any, text: str, *, by: Any) -> Any:
        """Leave an internal note (1 to 5,000 characters); returns the note row."""
        return self.service.add_note(case, text, by=by)

    def overdue(self, *, by: Any) -> Any:
        """A ``select()`` of the open and pending cases past due that ``by`` may see, to page or filter."""
        return self.service.overdue(by=by)

    def report(self, user: Any, *, now: Any = None) -> Report:
        """The reports page's figures over the cases ``user`` may see, as of ``now`` (default: now)."""
        return self.state.reports.report(user, now=now)

    def for_conversation(self, conversation: Any) -> list[Any]:
        return self.service.for_conversation(conversation)

    def labels_for(self, conversations: Iterable[Any], *, audit: bool = False) -> dict[Any, list[str]]:
        """Each conversation's current labels in one query; ``audit=True``: the stored audit labels."""
        return self.service.labels_for(conversations, audit=audit)

    def case_for_message(self, message: Any) -> Any | None:
        return self.service.case_for_message(message)

    def activity_for(self, conversation: Any) -> list[Any]:
        return self.service.activity_for(conversation)
