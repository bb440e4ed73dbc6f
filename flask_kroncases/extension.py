"""The ``KronCases`` extension: wiring into a host app, host hooks, public service API."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from .config import apply_defaults
from .enums import CaseType, Priority
from .models import HostSchema, Models, define_models
from .queueing import JobQueue
from .services.cases import CaseService
from .services.summaries import SummaryService
from .services.webhooks import WebhookService
from .summarizers import SummaryInput

log = logging.getLogger("flask_kroncases")

AccessCheck = Callable[[Any, Any], bool]
AdminCheck = Callable[[Any], bool]
UrlBuilder = Callable[[Any], str | None]

_TEXT_ATTRS = ("body", "text", "content", "message", "html")
_ROLE_ATTRS = ("author_role", "role", "author_type", "sender_type", "sender_role")
_TIME_ATTRS = ("created_at", "sent_at", "posted_at", "timestamp", "created")


def _first_attr(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


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
    service: CaseService
    webhooks: WebhookService
    summaries: SummaryService
    jobs: JobQueue


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
        self._access_check: AccessCheck | None = None
        self._admin_check: AdminCheck | None = None
        self._conversation_url: UrlBuilder | None = None
        self._user_name: Callable[[Any], str] | None = None
        self._message_reader: Callable[[Any], SummaryInput] | None = None
        self._visible_conversations: Callable[[Any], Any] | None = None
        self._warned_no_access_hook = False
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
        missing = [name for name in ("db", "conversation_model", "message_model", "user_model") if options[name] is None]
        if missing:
            raise TypeError("KronCases needs " + ", ".join(f"{name}=" for name in missing))

        apply_defaults(app.config)
        host = HostSchema.inspect(
            options["conversation_model"],
            options["message_model"],
            options["user_model"],
            options["message_conversation_attr"],
        )
        models = define_models(options["db"], host, options["table_prefix"])
        job_queue = JobQueue(app)
        webhooks = WebhookService(options["db"], models, self, job_queue)
        service = CaseService(options["db"], models, self, webhooks)
        service.summaries = SummaryService(options["db"], models, self, service, job_queue)
        app.extensions["kroncases"] = KronCasesState(
            extension=self,
            db=options["db"],
            models=models,
            service=service,
            webhooks=webhooks,
            summaries=service.summaries,
            jobs=job_queue,
        )

        from .blueprints import register_blueprints
        from .cli import cli
        from .templating import TemplateHelpers

        register_blueprints(app)
        app.cli.add_command(cli)
        app.jinja_env.globals["kroncases"] = TemplateHelpers()

    # -- host hooks ------------------------------------------------------

    def conversation_access(self, fn: AccessCheck) -> AccessCheck:
        """Register ``fn(user, conversation) -> bool``: may this user see this conversation?

        Until one is registered, every conversation is refused.
        """
        self._access_check = fn
        return fn

    def admin_check(self, fn: AdminCheck) -> AdminCheck:
        """Register ``fn(user) -> bool``: may this user configure webhooks?"""
        self._admin_check = fn
        return fn

    def conversation_url(self, fn: UrlBuilder) -> UrlBuilder:
        """Register ``fn(conversation) -> str``: the host's URL of a conversation."""
        self._conversation_url = fn
        return fn

    def user_name(self, fn: Callable[[Any], str]) -> Callable[[Any], str]:
        """Register ``fn(user) -> str``: how an agent is named in activity entries."""
        self._user_name = fn
        return fn

    # -- host hook for lists across conversations (agent UI: the cases page) --

    def visible_conversations(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Register ``fn(user) -> SQL condition`` on the conversation model (optional).

        The same rule as ``conversation_access``, as a ``WHERE`` clause, so the
        cases page can filter and paginate in SQL. Without it the page asks
        ``conversation_access`` once per conversation that has cases.
        """
        self._visible_conversations = fn
        return fn

    def visible_conversations_clause(self, user: Any) -> Any | None:
        return self._visible_conversations(user) if self._visible_conversations is not None else None

    def message_reader(self, fn: Callable[[Any], SummaryInput]) -> Callable[[Any], SummaryInput]:
        """Register ``fn(message) -> SummaryInput``: a host message's author role, text and time.

        Without one, the usual attribute names are tried (``body``/``text``/``content``,
        ``author_role``/``role``, ``created_at``/``sent_at``/``posted_at``).
        """
        self._message_reader = fn
        return fn

    def read_message(self, message: Any) -> SummaryInput:
        """What the summarizers and the thread see of a host message."""
        if self._message_reader is not None:
            return self._message_reader(message)
        return SummaryInput(
            author_role=str(_first_attr(message, _ROLE_ATTRS) or "customer"),
            text=str(_first_attr(message, _TEXT_ATTRS) or ""),
            sent_at=_first_attr(message, _TIME_ATTRS),
        )

    def check_conversation_access(self, user: Any, conversation: Any) -> bool:
        if self._access_check is None:
            if not self._warned_no_access_hook:
                log.warning("no @conversation_access hook registered: every conversation is refused")
                self._warned_no_access_hook = True
            return False
        return bool(self._access_check(user, conversation))

    def is_admin(self, user: Any) -> bool:
        if self._admin_check is None or user is None or not getattr(user, "is_authenticated", True):
            return False
        return bool(self._admin_check(user))

    def url_for_conversation(self, conversation: Any) -> str | None:
        return self._conversation_url(conversation) if self._conversation_url else None

    def display_name(self, user: Any) -> str:
        if user is None:
            return "Someone"
        if self._user_name is not None:
            return self._user_name(user)
        for attr in ("name", "display_name", "full_name", "username", "email"):
            value = getattr(user, attr, None)
            if isinstance(value, str) and value:
                return value
        return str(user)

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

    # -- the public service API (DESIGN.md §3) ----------------------------

    def create_case(
        self,
        conversation: Any,
        messages: Iterable[Any],
        *,
        title: str,
        case_type: str | CaseType = CaseType.GENERAL,
        priority: str | Priority = Priority.MEDIUM,
        summary: str | None = None,
        by: Any,
    ) -> Any:
        return self.service.create_case(
            conversation, messages, title=title, case_type=case_type,
            priority=priority, summary=summary, by=by,
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

    def for_conversation(self, conversation: Any) -> list[Any]:
        return self.service.for_conversation(conversation)

    def labels_for(self, conversations: Iterable[Any]) -> dict[Any, list[str]]:
        return self.service.labels_for(conversations)

    def case_for_message(self, message: Any) -> Any | None:
        return self.service.case_for_message(message)

    def activity_for(self, conversation: Any) -> list[Any]:
        return self.service.activity_for(conversation)
