"""The extension's tables, bound to whatever the host's tables are called.

The host owns its conversation, message and user tables; we never add a column
to them. Our models are built once per ``SQLAlchemy`` instance by
:func:`define_models`, with foreign keys that copy the type of the host's
primary keys (integer, UUID, string ...), so they land in the host's metadata
and in the host's own Alembic autogenerate.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import orm

from .enums import OPENING_MESSAGE, TITLE_MAX_LENGTH, CaseType, DeliveryStatus, Priority, Status


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite hands them back naive. None for a non-time."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def host_time(value: Any, zone: str) -> datetime | None:
    """A host's time as an aware UTC datetime; a naive one is read in ``zone``.

    ``zone`` is ``KRONCASES_HOST_TIMEZONE``: ``"UTC"``, an IANA name such as
    ``"Asia/Tokyo"``, or ``"local"`` for the server's own zone (the host stores
    ``datetime.now()``). Our own columns are always UTC: use :func:`as_utc`.
    """
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    if zone == "UTC":  # the default: no zone lookup, no conversion
        return value.replace(tzinfo=UTC)
    if zone == "local":
        return value.astimezone(UTC)  # Python reads a naive time as the system's local time
    return value.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass(frozen=True)
class HostModel:
    """One host model and the single-column primary key we point at."""

    model: type
    table: sa.Table
    pk_column: Any
    pk_attr: str

    @classmethod
    def inspect(cls, model: type, role: str) -> HostModel:
        mapper: Any = sa.inspect(model, raiseerr=False)
        if mapper is None or not isinstance(mapper, orm.Mapper):
            raise TypeError(f"{role}_model must be a mapped SQLAlchemy model, got {model!r}")
        table = mapper.local_table
        if not isinstance(table, sa.Table):
            raise TypeError(f"{role}_model must be mapped to a table")
        pk = list(mapper.primary_key)
        if len(pk) != 1:
            raise TypeError(
                f"{role}_model {model.__name__} needs a single-column primary key, "
                f"it has {len(pk)}"
            )
        return cls(model, table, pk[0], mapper.get_property_by_column(pk[0]).key)

    def key_of(self, instance: Any) -> Any:
        return getattr(instance, self.pk_attr)

    def coerce_key(self, raw: Any) -> Any | None:
        """Turn a key from a URL or JSON body into the key's Python type, or None.

        None also for what the database could not even compare: an integer past
        the column's range, text holding NUL.
        """
        return coerce_key(self.pk_column.type, raw)


def storable(text: str) -> bool:
    """Whether a database can hold ``text``: no NUL, no lone surrogate (JSON allows both)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def coerce_key(column_type: Any, raw: Any) -> Any | None:
    """A URL or JSON value as a key of ``column_type``, or None if it cannot be one."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        if isinstance(column_type, sa.Uuid):
            value = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
            return value if column_type.as_uuid else str(value)
        python_type = column_type.python_type
    except (ValueError, TypeError, AttributeError, NotImplementedError):
        return None
    if python_type is int:
        # Only ASCII digits: str.isdigit() and int() also take "²" and "１４".
        if isinstance(raw, str):
            text = raw.strip()
            raw = int(text) if text.isascii() and text.isdigit() and len(text) < 30 else None
        if not isinstance(raw, int):
            return None
        limit = 2**63 if isinstance(column_type, sa.BigInteger) else 2**31
        return raw if 0 <= raw < limit else None
    if python_type is str:
        if isinstance(raw, int):
            raw = str(raw)
        return raw if isinstance(raw, str) and raw and storable(raw) else None
    try:
        return python_type(raw)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class HostSchema:
    """What the extension knows of the host's tables."""

    conversation: HostModel
    message: HostModel
    user: HostModel
    #: Attribute of the message model holding its conversation's key.
    message_conversation_attr: str

    @classmethod
    def inspect(
        cls,
        conversation_model: type,
        message_model: type,
        user_model: type,
        message_conversation_attr: str | None = None,
    ) -> HostSchema:
        conversation = HostModel.inspect(conversation_model, "conversation")
        message = HostModel.inspect(message_model, "message")
        user = HostModel.inspect(user_model, "user")
        if message_conversation_attr is None:
            message_conversation_attr = _infer_fk_attr(message, conversation)
        elif not hasattr(message_model, message_conversation_attr):
            raise TypeError(
                f"message_model {message_model.__name__} has no attribute "
                f"{message_conversation_attr!r}"
            )
        return cls(conversation, message, user, message_conversation_attr)

    def conversation_key_of_message(self, message: Any) -> Any:
        return getattr(message, self.message_conversation_attr)


def _infer_fk_attr(message: HostModel, conversation: HostModel) -> str:
    mapper: Any = sa.inspect(message.model)
    candidates = [
        column
        for column in message.table.columns
        for fk in column.foreign_keys
        if fk.column is conversation.pk_column
    ]
    if len(candidates) != 1:
        raise TypeError(
            f"cannot tell which column of {message.table.name} holds the conversation "
            f"({len(candidates)} foreign keys to {conversation.table.name}); pass "
            "message_conversation_attr= to init_app"
        )
    return str(mapper.get_property_by_column(candidates[0]).key)


@dataclass(frozen=True)
class Models:
    """The extension's model classes for one ``SQLAlchemy`` instance.

    Typed ``Any``: they are built at run time on the host's declarative base.
    """

    Case: Any
    CaseMessage: Any
    CaseActivity: Any
    CaseNote: Any
    ConversationLabel: Any
    WebhookEndpoint: Any
    WebhookDelivery: Any
    WebhookAttempt: Any
    Suggestion: Any
    host: HostSchema
    table_prefix: str


_defined: weakref.WeakKeyDictionary[Any, Models] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def define_models(db: Any, host: HostSchema, table_prefix: str = "kroncases_") -> Models:
    """Build (once per ``db``) the models whose foreign keys point at ``host``.

    A second call with the same ``db`` and the same host models returns the
    classes made the first time; another host on the same ``db`` is refused, as
    the table names would clash in one metadata.
    """
    with _lock:
        existing = _defined.get(db)
        if existing is not None:
            if existing.host != host or existing.table_prefix != table_prefix:
                raise RuntimeError(
                    "flask-kroncases models were already defined on this SQLAlchemy "
                    "instance for other host models or another table prefix"
                )
            return existing
        models = _build(db, host, table_prefix)
        _defined[db] = models
        return models


def _fk(target: HostModel, **kwargs: Any) -> sa.Column[Any]:
    """A column of the host key's own type, pointing at the host table."""
    return sa.Column(
        target.pk_column.type.copy(),
        sa.ForeignKey(
            f"{target.table.fullname}.{target.pk_column.name}",
            ondelete=kwargs.pop("ondelete", None),
            # Named, so a host's SQLite migration (Alembic batch mode) can add it to an existing table.
            name=kwargs.pop("fk_name", None),
        ),
        **kwargs,
    )


def _enum_check(column: str, enum: type[Any], name: str) -> sa.CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=name)


def _build(db: Any, host: HostSchema, p: str) -> Models:
    Base = db.Model
    conv, msg, user = host.conversation, host.message, host.user

    class KronCase(Base):  # type: ignore[misc, valid-type]
        """A support case made of one or more messages of one conversation."""

        __tablename__ = f"{p}cases"
        __table_args__ = (
            _enum_check("case_type", CaseType, f"ck_{p}cases_case_type"),
            _enum_check("priority", Priority, f"ck_{p}cases_priority"),
            _enum_check("status", Status, f"ck_{p}cases_status"),
            # A conversation's opening text, like a message, is in at most one case.
            sa.Index(f"uq_{p}cases_opening", "conversation_id", unique=True,
                     sqlite_where=sa.text("includes_opening"), postgresql_where=sa.text("includes_opening")),
            # The cases page's default order (most recently changed first): page 1 reads 25 entries, not every case.
            sa.Index(f"ix_{p}cases_updated", "updated_at", "id"),
        )

        id = sa.Column(sa.Integer, primary_key=True)
        conversation_id = _fk(conv, ondelete="CASCADE", nullable=False, index=True)
        title = sa.Column(sa.String(TITLE_MAX_LENGTH), nullable=False)
        case_type = sa.Column(sa.String(16), nullable=False, default=CaseType.GENERAL.value)
        priority = sa.Column(sa.String(16), nullable=False, default=Priority.MEDIUM.value)
        status = sa.Column(sa.String(16), nullable=False, default=Status.OPEN.value, index=True)
        summary = sa.Column(sa.Text, nullable=True)
        created_by_id = _fk(user, ondelete="SET NULL", nullable=True)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
        updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
        resolved_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
        escalated_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
        escalation_level = sa.Column(sa.Integer, nullable=False, default=0)
        escalation_reason = sa.Column(sa.Text, nullable=True)
        # The agent who owns the case; None while nobody does.
        assignee_id = _fk(user, ondelete="SET NULL", nullable=True, index=True, fk_name=f"fk_{p}cases_assignee_id")
        # When the case should be resolved by (KRONCASES_DUE_AFTER); None once resolved or
        # when due times are off. The clock starts at creation or reopening and stops
        # while the case is pending: leaving pending moves the due time on by the wait.
        due_at = sa.Column(sa.DateTime(timezone=True), nullable=True, index=True)
        clock_started_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
        paused_seconds = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
        pending_since = sa.Column(sa.DateTime(timezone=True), nullable=True)
        # The due time for which case.overdue was sent, so the sweep sends it once per due time.
        overdue_notified_for = sa.Column(sa.DateTime(timezone=True), nullable=True)
        # True when an agent wrote the summary: adding messages then keeps it. Rows from before
        # this column count as the agent's (the safe guess: their text is never overwritten).
        summary_by_agent = sa.Column(sa.Boolean, nullable=False, default=False, server_default=sa.true())
        # The conversation's opening text (a host that keeps it on the conversation row).
        includes_opening = sa.Column(sa.Boolean, nullable=False, default=False, server_default=sa.false())
        # Optimistic lock: two agents changing one case at once cannot both win.
        version = sa.Column(sa.Integer, nullable=False)

        __mapper_args__ = {"version_id_col": version}

        conversation = orm.relationship(conv.model, lazy="select")
        created_by = orm.relationship(user.model, lazy="select", foreign_keys=[created_by_id])
        assignee = orm.relationship(user.model, lazy="select", foreign_keys=[assignee_id])
        notes = orm.relationship(
            "KronCaseNote",
            back_populates="case",
            cascade="all, delete-orphan",
            order_by="KronCaseNote.id",
            lazy="select",
        )
        message_links = orm.relationship(
            "KronCaseMessage",
            back_populates="case",
            cascade="all, delete-orphan",
            order_by="KronCaseMessage.id",
            lazy="selectin",
        )

        @property
        def message_ids(self) -> list[Any]:
            """The keys of its messages, ``"opening"`` first when it holds the opening text."""
            linked = [link.message_id for link in self.message_links]
            return [OPENING_MESSAGE, *linked] if self.includes_opening else linked

        def __repr__(self) -> str:
            return f"<Case #{self.id} {self.status} {self.title!r}>"

    class KronCaseMessage(Base):  # type: ignore[misc, valid-type]
        """Links a host message to its case; a message is in at most one case."""

        __tablename__ = f"{p}case_messages"
        __table_args__ = (sa.UniqueConstraint("message_id", name=f"uq_{p}case_messages_message"),)

        id = sa.Column(sa.Integer, primary_key=True)
        case_id = sa.Column(
            sa.Integer,
            sa.ForeignKey(f"{p}cases.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
        message_id = _fk(msg, ondelete="CASCADE", nullable=False)

        case = orm.relationship(KronCase, back_populates="message_links")
        message = orm.relationship(msg.model, lazy="select")

    class KronCaseNote(Base):  # type: ignore[misc, valid-type]
        """An internal note on a case, for the next agent; never sent in a webhook body."""

        __tablename__ = f"{p}case_notes"

        id = sa.Column(sa.Integer, primary_key=True)
        case_id = sa.Column(
            sa.Integer,
            sa.ForeignKey(f"{p}cases.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
        author_id = _fk(user, ondelete="SET NULL", nullable=True)
        body = sa.Column(sa.Text, nullable=False)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)

        case = orm.relationship(KronCase, back_populates="notes")
        author = orm.relationship(user.model, lazy="select")

    class KronCaseActivity(Base):  # type: ignore[misc, valid-type]
        """One change of a case: who, what, when, from which status to which."""

        __tablename__ = f"{p}activity"
        __table_args__ = (sa.Index(f"ix_{p}activity_conversation_time", "conversation_id", "created_at"),)

        id = sa.Column(sa.Integer, primary_key=True)
        case_id = sa.Column(
            sa.Integer,
            sa.ForeignKey(f"{p}cases.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
        conversation_id = _fk(conv, ondelete="CASCADE", nullable=False)
        actor_id = _fk(user, ondelete="SET NULL", nullable=True)
        kind = sa.Column(sa.String(32), nullable=False)
        from_status = sa.Column(sa.String(16), nullable=True)
        to_status = sa.Column(sa.String(16), nullable=True)
        detail = sa.Column(sa.JSON, nullable=False, default=dict)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)

        case = orm.relationship(KronCase)
        actor = orm.relationship(user.model, lazy="select")

    class KronConversationLabel(Base):  # type: ignore[misc, valid-type]
        """A label on a host conversation, kept as an audit record of which case put it."""

        __tablename__ = f"{p}conversation_labels"
        __table_args__ = (
            sa.UniqueConstraint("case_id", "name", name=f"uq_{p}conversation_labels_case_name"),
            sa.Index(f"ix_{p}conversation_labels_conversation", "conversation_id", "name"),
        )

        id = sa.Column(sa.Integer, primary_key=True)
        conversation_id = _fk(conv, ondelete="CASCADE", nullable=False)
        name = sa.Column(sa.String(64), nullable=False)
        case_id = sa.Column(
            sa.Integer, sa.ForeignKey(f"{p}cases.id", ondelete="CASCADE"), nullable=False
        )
        created_by_id = _fk(user, ondelete="SET NULL", nullable=True)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)

        case = orm.relationship(KronCase)
        created_by = orm.relationship(user.model, lazy="select")

    class KronWebhookEndpoint(Base):  # type: ignore[misc, valid-type]
        """A receiver of case events, configured by an admin."""

        __tablename__ = f"{p}webhook_endpoints"

        id = sa.Column(sa.Integer, primary_key=True)
        url = sa.Column(sa.String(2048), nullable=False)
        description = sa.Column(sa.String(200), nullable=False, default="")
        # The signing secret, "whsec_" + base64; shown in full only when made.
        secret = sa.Column(sa.String(100), nullable=False)
        # After a rotation the old secret keeps signing until this time.
        previous_secret = sa.Column(sa.String(100), nullable=True)
        previous_secret_expires_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
        events = sa.Column(sa.JSON, nullable=False, default=list)
        enabled = sa.Column(sa.Boolean, nullable=False, default=True)
        disabled_reason = sa.Column(sa.Text, nullable=True)
        # Start of the current run of failed attempts; None while it delivers.
        failing_since = sa.Column(sa.DateTime(timezone=True), nullable=True)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
        updated_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)

        def __repr__(self) -> str:
            return f"<WebhookEndpoint #{self.id} {self.url!r}>"

    class KronWebhookDelivery(Base):  # type: ignore[misc, valid-type]
        """One event for one endpoint: the outbox row, written with the case change."""

        __tablename__ = f"{p}webhook_deliveries"
        __table_args__ = (
            sa.Index(f"ix_{p}webhook_deliveries_due", "status", "next_attempt_at"),
            sa.Index(f"ix_{p}webhook_deliveries_endpoint", "endpoint_id", "id"),
            # A batch job's claim: the due deliveries of one endpoint.
            sa.Index(f"ix_{p}webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
            # The sweep's pruning: the settled deliveries past the retention, found without reading the log.
            sa.Index(f"ix_{p}webhook_deliveries_created", "created_at"),
            # Deleting a case (a host deleting its conversation) sets case_id to NULL here: found by index.
            sa.Index(f"ix_{p}webhook_deliveries_case", "case_id"),
        )

        id = sa.Column(sa.Integer, primary_key=True)
        endpoint_id = sa.Column(
            sa.Integer, sa.ForeignKey(f"{p}webhook_endpoints.id", ondelete="CASCADE"), nullable=False
        )
        # Stable across retries and redeliveries so receivers can drop duplicates.
        event_id = sa.Column(sa.String(64), nullable=False)
        event_type = sa.Column(sa.String(64), nullable=False)
        case_id = sa.Column(
            sa.Integer, sa.ForeignKey(f"{p}cases.id", ondelete="SET NULL"), nullable=True
        )
        # The exact bytes that are signed and sent, serialized once.
        body = sa.Column(sa.LargeBinary, nullable=False)
        status = sa.Column(sa.String(16), nullable=False, default=DeliveryStatus.PENDING.value)
        attempts = sa.Column(sa.Integer, nullable=False, default=0)
        next_attempt_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
        claimed_at = sa.Column(sa.DateTime(timezone=True), nullable=True)
        last_status_code = sa.Column(sa.Integer, nullable=True)
        last_latency_ms = sa.Column(sa.Integer, nullable=True)
        last_response_excerpt = sa.Column(sa.Text, nullable=True)
        last_error = sa.Column(sa.Text, nullable=True)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
        delivered_at = sa.Column(sa.DateTime(timezone=True), nullable=True)

        endpoint = orm.relationship(KronWebhookEndpoint)
        attempt_log = orm.relationship(
            "KronWebhookAttempt", order_by="KronWebhookAttempt.number", lazy="selectin",
            back_populates="delivery", cascade="all, delete-orphan",
        )

    class KronWebhookAttempt(Base):  # type: ignore[misc, valid-type]
        """One try at sending a delivery, logged whatever its outcome."""

        __tablename__ = f"{p}webhook_attempts"
        __table_args__ = (sa.UniqueConstraint("delivery_id", "number", name=f"uq_{p}webhook_attempts_number"),)

        id = sa.Column(sa.Integer, primary_key=True)
        delivery_id = sa.Column(
            sa.Integer, sa.ForeignKey(f"{p}webhook_deliveries.id", ondelete="CASCADE"), nullable=False
        )
        number = sa.Column(sa.Integer, nullable=False)
        started_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
        status_code = sa.Column(sa.Integer, nullable=True)
        latency_ms = sa.Column(sa.Integer, nullable=True)
        response_excerpt = sa.Column(sa.Text, nullable=True)
        error = sa.Column(sa.Text, nullable=True)
        outcome = sa.Column(sa.String(16), nullable=False)

        delivery = orm.relationship(KronWebhookDelivery, back_populates="attempt_log")

    class KronSuggestion(Base):  # type: ignore[misc, valid-type]
        """A title and summary suggested for messages an agent selected; made by a job."""

        __tablename__ = f"{p}suggestions"

        # Random, so one agent cannot guess another's suggestion.
        id = sa.Column(sa.String(32), primary_key=True)
        conversation_id = _fk(conv, ondelete="CASCADE", nullable=False, index=True)
        requested_by_id = _fk(user, ondelete="CASCADE", nullable=True)
        message_ids = sa.Column(sa.JSON, nullable=False)
        status = sa.Column(sa.String(16), nullable=False, default="pending")
        title = sa.Column(sa.String(TITLE_MAX_LENGTH), nullable=True)
        summary = sa.Column(sa.Text, nullable=True)
        source = sa.Column(sa.String(32), nullable=True)
        # Suggested CaseType and Priority values; empty when the backend had no opinion.
        case_type = sa.Column(sa.String(16), nullable=True)
        priority = sa.Column(sa.String(16), nullable=True)
        error = sa.Column(sa.Text, nullable=True)
        created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow, index=True)
        finished_at = sa.Column(sa.DateTime(timezone=True), nullable=True)

    links = KronCaseMessage.__table__

    @sa.event.listens_for(msg.model, "after_delete")
    def unlink_deleted_message(mapper: Any, connection: Any, message: Any) -> None:
        """A host message deleted through the ORM leaves its case in the same flush.

        The foreign key cascades too, but SQLite enforces none unless the host
        turned its pragma on; this holds on every database. (A bulk
        ``DELETE`` skips ORM events: there only the foreign key helps.)
        """
        connection.execute(sa.delete(links).where(links.c.message_id == msg.key_of(message)))

    return Models(
        Case=KronCase,
        CaseMessage=KronCaseMessage,
        CaseActivity=KronCaseActivity,
        CaseNote=KronCaseNote,
        ConversationLabel=KronConversationLabel,
        WebhookEndpoint=KronWebhookEndpoint,
        WebhookDelivery=KronWebhookDelivery,
        WebhookAttempt=KronWebhookAttempt,
        Suggestion=KronSuggestion,
        host=host,
        table_prefix=p,
    )
