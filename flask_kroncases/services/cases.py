"""The case service: the only place where cases are created and changed.

Every public method validates everything *before* it adds anything to the
session, so a refused call leaves nothing behind for the host's next commit.
It then writes the change, its activity entry and its labels in one
transaction, commits the host's ``db.session``, and only then sends the blinker
signal. Every refusal is a :class:`~flask_kroncases.errors.CaseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from itertools import islice
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm.attributes import set_committed_value

from .. import signals
from ..enums import (
    ESCALATABLE,
    LABEL_SUPPORT_CASE,
    LABEL_SUPPORT_CASE_RESOLVED,
    NOTE_MAX_LENGTH,
    OPENING_MESSAGE,
    TITLE_MAX_LENGTH,
    TRANSITIONS,
    WORKING,
    ActivityKind,
    CaseAction,
    CaseType,
    Priority,
    Status,
)
from ..errors import CaseError
from ..hooks import HostHooks, is_signed_in, unwrap_user
from ..i18n import N_, ngettext
from ..i18n import gettext as _
from ..models import Models, storable, utcnow
from . import activity as activity_service
from . import due as due_service
from . import labels as label_service
from .base import Service
from .delivery import DeliveryService
from .serialization import iso, json_key
from .unit_of_work import NothingChanged, UnitOfWork

# Refusals said in many places: marked here, looked up (``_(NO_CASE)``) when raised.
UNSTORABLE = N_("This text holds characters that cannot be stored (NUL or a broken surrogate).")
NO_CONVERSATION = N_("This conversation does not exist.")
NO_CASE = N_("This case does not exist.")
NO_AGENT = N_("There is no such agent.")

#: "Case #1 is already <status>.", one whole sentence per status.
_ALREADY = {
    Status.OPEN: N_("Case #%(id)s is already open."),
    Status.PENDING: N_("Case #%(id)s is already pending."),
    Status.RESOLVED: N_("Case #%(id)s is already resolved."),
}
#: Why a case that is not resolved cannot be reopened, per status.
_NOT_REOPENABLE = {
    Status.OPEN: N_("Only a resolved case can be reopened; Case #%(id)s is open."),
    Status.PENDING: N_("Only a resolved case can be reopened; Case #%(id)s is pending."),
}

#: The status moves TRANSITIONS refuses (besides staying put), each in a whole sentence.
_REFUSED_MOVES = {
    (Status.RESOLVED, Status.PENDING): N_("A resolved case cannot be marked pending; reopen it first."),
}


def _already_logged(key: Any, case_id: Any) -> str:
    if key == OPENING_MESSAGE:
        return _("The opening message is already logged under Case #%(case)s.", case=case_id)
    return _("Message %(key)s is already logged under Case #%(case)s.", key=key, case=case_id)


class _NotAKey(NamedTuple):
    """An item of a message selection that can be no message key, and what to say about it."""

    problem: str


#: The opening text in a parsed selection (when the host keeps one): never equal to a key.
_OPENING = object()


def _choice_message(enum: type[Any]) -> str:
    return _("Choose one of %(choices)s.", choices=", ".join(member.label for member in enum))


def _all(errors: dict[str, list[str]]) -> str:
    """Every problem found, one after the other (each a whole sentence)."""
    return " ".join(m for ms in errors.values() for m in ms)


class CaseService(Service):
    """Case operations for one app; reached through ``KronCases``'s methods.

    Each public operation authorizes once, through the host hooks, and writes
    through one :class:`~.unit_of_work.CaseChange`. What an agent may not see
    is refused exactly like what does not exist, so refusals tell nothing.
    """

    def __init__(self, db: Any, models: Models, hooks: HostHooks, delivery: DeliveryService) -> None:
        super().__init__(db, models)
        self.hooks = hooks
        self.work = UnitOfWork(db, models, delivery)
        #: Set by the extension to the summary service's scheduler: a case saved
        #: without a summary gets one from a job, after commit (``overwrite=True``:
        #: a machine-written summary is rewritten after messages joined the case).
        self.schedule_summary: Callable[..., None] | None = None

    # -- lookups ---------------------------------------------------------

    def conversation(self, key: Any, *, by: Any = None) -> Any:
        """Load a host conversation by key (or instance); with ``by``, only one they may see."""
        host = self.models.host.conversation
        if isinstance(key, host.model):
            found = key
        else:
            coerced = host.coerce_key(key)
            found = self.session.get(host.model, coerced) if coerced is not None else None
        if found is None:
            raise CaseError(_(NO_CONVERSATION), kind="not_found")
        if by is not None:
            self.authorize(by, found, not_found=NO_CONVERSATION)
        return found

    def get_case(self, case: Any, *, by: Any = None) -> Any:
        """Load a case by id (or take an instance); with ``by``, only one they may see."""
        found = self.find(self.models.Case, case, NO_CASE)
        if by is not None:
            self.authorize(by, found.conversation, not_found=NO_CASE)
        return found

    def for_conversation(self, conversation: Any, *, by: Any = None) -> list[Any]:
        """The conversation's cases, oldest first."""
        if by is not None:
            self.authorize(by, conversation, not_found=NO_CONVERSATION)
        Case = self.models.Case
        key = self.conversation_key(conversation)
        return list(
            self.session.scalars(sa.select(Case).where(Case.conversation_id == key).order_by(Case.id))
        )

    def page_cases(self, conversation: Any) -> tuple[list[Any], dict[Any, tuple[int, Any]]]:
        """What a conversation page shows of its cases: the cases, oldest first, and their notes.

        The notes as :meth:`panel_details` gives them: each case's note count
        and latest note, by case id (cases without notes left out). Two queries,
        the cases with their note counts and their messages (``selectin``), and
        one more for the latest notes when there are any. The people they name
        are not loaded here: :meth:`name_people` does that for the cases, notes
        and activity of a page together.
        """
        Case, Note = self.models.Case, self.models.CaseNote
        key = self.conversation_key(conversation)
        count = sa.select(sa.func.count(Note.id)).where(Note.case_id == Case.id).correlate(Case).scalar_subquery()
        latest = sa.select(sa.func.max(Note.id)).where(Note.case_id == Case.id).correlate(Case).scalar_subquery()
        rows = self.session.execute(
            sa.select(Case, count, latest).where(Case.conversation_id == key).order_by(Case.id)
        ).all()
        cases = [case for case, _count, _latest in rows]
        wanted = {latest_id: (case.id, int(total)) for case, total, latest_id in rows if latest_id is not None}
        notes: dict[Any, tuple[int, Any]] = {}
        if wanted:
            for note in self.session.scalars(sa.select(Note).where(Note.id.in_(list(wanted)))):
                case_id, total = wanted[note.id]
                notes[case_id] = (total, note)
        return cases, notes

    def case_for_message(self, message: Any) -> Any | None:
        """The case a host message is logged under, or None."""
        return self.cases_for_messages([message]).get(self.models.host.message.key_of(message))

    def cases_for_messages(self, messages: Iterable[Any]) -> dict[Any, Any]:
        """Map each message key that is in a case to its case, in one query."""
        host = self.models.host.message
        keys = [host.key_of(m) if isinstance(m, host.model) else m for m in messages]
        if not keys:
            return {}
        Case, Link = self.models.Case, self.models.CaseMessage
        rows = self.session.execute(
            sa.select(Link.message_id, Case).join(Case, Link.case_id == Case.id).where(Link.message_id.in_(keys))
        )
        return {message_id: case for message_id, case in rows}

    def labels_for(self, conversations: Iterable[Any], *, audit: bool = False) -> dict[Any, list[str]]:
        """Each conversation's current state for a list page, in one query.

        ``support-case`` while it has an open or pending case,
        ``support-case-resolved`` once all its cases are resolved, and
        ``overdue`` for one with an overdue case: what the badges show. With
        ``audit=True``, the stored labels instead (every label ever put on it;
        a reopen keeps ``support-case-resolved`` there), also in one query.
        """
        keys = [self.conversation_key(c) for c in conversations]
        if audit:
            return label_service.stored_labels_for(self.session, self.models, keys)
        overdue = due_service.overdue_clause
        return label_service.labels_for(self.session, self.models, keys, overdue=overdue, now=utcnow())

    def panel_details(self, cases: Iterable[Any]) -> dict[Any, tuple[int, Any]]:
        """Each case's note count and latest note (by case id; cases without notes left out).

        Also hands every person a panel names to ``case.assignee``,
        ``case.created_by`` and ``note.author`` (:meth:`name_people`), which then
        need no query of their own: at most two queries for a panel of any length.
        """
        cases = list(cases)
        ids = [case.id for case in cases]
        if not ids:
            return {}
        Note = self.models.CaseNote
        totals = (
            sa.select(Note.case_id, sa.func.count(Note.id).label("total"), sa.func.max(Note.id).label("latest"))
            .where(Note.case_id.in_(ids))
            .group_by(Note.case_id)
            .subquery()
        )
        rows = self.session.execute(sa.select(Note, totals.c.total).join(totals, Note.id == totals.c.latest)).all()
        details = {note.case_id: (int(total), note) for note, total in rows}
        self.name_people(cases, [note for _count, note in details.values()])
        return details

    def name_people(self, cases: Iterable[Any] = (), notes: Iterable[Any] = (), activity: Iterable[Any] = ()) -> None:
        """Load everyone the cases, notes and activity entries name, in one query at most.

        Hands them to ``case.assignee``, ``case.created_by``, ``note.author`` and
        ``entry.actor``, which then cost no query when a page shows the names.
        People the session holds already (the signed-in agent, most often) are
        taken from it; when it holds them all, no query is sent.
        """
        cases, notes, activity = list(cases), list(notes), list(activity)
        keys = {case.assignee_id for case in cases} | {case.created_by_id for case in cases}
        keys |= {note.author_id for note in notes} | {entry.actor_id for entry in activity}
        keys.discard(None)
        user = self.models.host.user
        mapper: Any = sa.inspect(user.model)
        known = self.session.identity_map
        people: dict[Any, Any] = {}
        for key in keys:
            found = known.get(mapper.identity_key_from_primary_key((key,)))
            if found is not None and _fully_loaded(found):
                people[key] = found
        missing = [key for key in keys if key not in people]
        if missing:
            loaded = self.session.scalars(sa.select(user.model).where(user.pk_column.in_(missing)))
            people.update((user.key_of(u), u) for u in loaded)
        for case in cases:
            set_committed_value(case, "assignee", people.get(case.assignee_id))
            set_committed_value(case, "created_by", people.get(case.created_by_id))
        for note in notes:
            set_committed_value(note, "author", people.get(note.author_id))
        for entry in activity:
            set_committed_value(entry, "actor", people.get(entry.actor_id))

    def activity_for(self, conversation: Any) -> list[Any]:
        """The conversation's case activity, in time order."""
        return activity_service.for_conversation(
            self.session, self.models, self.conversation_key(conversation)
        )

    @staticmethod
    def actions(case: Any) -> list[CaseAction]:
        """What an agent may do with the case now, in the order the panel shows them."""
        status = Status(case.status)
        allowed = TRANSITIONS[status]
        actions: list[CaseAction] = []
        if Status.PENDING in allowed:
            actions.append(CaseAction.PENDING)
        if Status.OPEN in allowed:
            actions.append(CaseAction.REOPEN if status == Status.RESOLVED else CaseAction.OPEN)
        if Status.RESOLVED in allowed:
            actions.append(CaseAction.RESOLVE)
        if status in ESCALATABLE:
            actions.append(CaseAction.ESCALATE)
        actions.append(CaseAction.SUMMARY)
        return actions

    # -- access ----------------------------------------------------------

    def can_see(self, user: Any, conversation: Any) -> bool:
        return self.hooks.may_see(user, conversation, self.conversation_key(conversation))

    def authorize(self, user: Any, conversation: Any, *, not_found: str = NO_CONVERSATION) -> Any:
        """Return the unwrapped user, or refuse as if the thing did not exist.

        The host's ``conversation_access`` hook is asked here and nowhere else
        on a change's path: views do not check first.
        """
        user = unwrap_user(user)
        if not is_signed_in(user):
            raise CaseError(_("Sign in to work with cases."), kind="forbidden")
        if not isinstance(user, self.models.host.user.model):
            raise TypeError(f"by= must be a {self.models.host.user.model.__name__}, got {user!r}")
        if not self.can_see(user, conversation):
            raise CaseError(_(not_found), kind="not_found")
        return user

    # -- create ----------------------------------------------------------

    def create_case(
        self,
        conversation: Any,
        messages: Iterable[Any],
        *,
        title: Any,
        case_type: Any = CaseType.GENERAL,
        priority: Any = Priority.MEDIUM,
        summary: Any = None,
        summary_is_suggestion: bool = False,
        by: Any,
    ) -> Any:
        """Create a case from ``messages`` (instances or keys) of ``conversation`` (instance or key).

        A ``summary`` counts as the agent's own words unless ``summary_is_suggestion``
        says it is the suggestion as it was made: only then do messages added
        later have the summary rewritten.
        """
        # The conversation, its selected messages and the cases holding them: one query, before
        # the access check (which needs the conversation), reported on only after it.
        message_errors: dict[str, list[str]] = {}
        tokens = self._parse_messages(messages, message_errors)
        conversation, held, opening_held_by = self._read_selection(conversation, tokens or [])
        actor = self.authorize(by, conversation)
        errors: dict[str, list[str]] = {}
        clean_title = self._validate_title(title, errors)
        clean_type = self._validate_choice(CaseType, case_type, "case_type", errors)
        clean_priority = self._validate_choice(Priority, priority, "priority", errors)
        clean_summary = self._validate_summary(summary, errors)
        selected, conflict = ([], False) if tokens is None else self._check_selection(
            conversation, tokens, held, opening_held_by, message_errors)
        errors.update(message_errors)
        if errors:
            only_conflict = conflict and set(errors) == {"messages"}
            raise CaseError(
                _("This case was not created: %(problems)s", problems=_all(errors)),
                kind="conflict" if only_conflict else "invalid",
                errors=errors,
            )

        m = self.models
        change = self.work.change(None, actor, while_doing="created", new=True)
        # Every column given (None too): one the session was not given would cost a query when read.
        case = change.case = m.Case(
            conversation_id=self.conversation_key(conversation),
            title=clean_title,
            case_type=clean_type.value,
            priority=clean_priority.value,
            status=Status.OPEN.value,
            summary=clean_summary,
            created_by_id=m.host.user.key_of(actor),
            created_at=change.now,
            updated_at=change.now,
            escalation_level=0,
            escalated_at=None,
            escalation_reason=None,
            resolved_at=None,
            assignee_id=None,
            overdue_notified_for=None,
            summary_by_agent=clean_summary is not None and not summary_is_suggestion,
            includes_opening=OPENING_MESSAGE in selected,
        )
        set_committed_value(case, "conversation", conversation)  # what the reply and the webhook body link to
        due_service.start_clock(self.config, case, change.now)
        linked = [key for key in selected if key != OPENING_MESSAGE]

        def write() -> None:
            self.session.flush()  # the case's id, for its message links
            set_committed_value(case, "message_links", self._link(case, linked))

        change.rows(write).activity(
            ActivityKind.CREATED,
            to_status=Status.OPEN,
            detail={
                "title": case.title,
                "case_type": case.case_type,
                "priority": case.priority,
                "message_count": len(selected),
            },
        ).label(LABEL_SUPPORT_CASE).event("case.created").signal(signals.case_created)
        if case.summary is None and self.schedule_summary is not None:
            schedule = self.schedule_summary
            change.after_commit(lambda: schedule(case))
        return change.commit()

    def _link(self, case: Any, keys: list[Any]) -> list[Any]:
        """Insert the case's message links in one statement; return them, loaded, in the order of ``keys``.

        Not through the case's ``message_links`` collection: the session's flush
        would insert them one by one on SQLite, to learn each one's id in order.
        A message in another case already fails here (the unique index), for
        :meth:`~.unit_of_work.CaseChange.commit` to report.
        """
        if not keys:
            return []
        Link = self.models.CaseMessage
        made = self.session.scalars(
            sa.insert(Link).returning(Link), [{"case_id": case.id, "message_id": key} for key in keys]
        )
        by_key = {link.message_id: link for link in made}
        for link in by_key.values():
            set_committed_value(link, "case", case)
        return [by_key[key] for key in keys]

    def _validate_title(self, title: Any, errors: dict[str, list[str]]) -> str:
        if not isinstance(title, str):
            errors["title"] = [_("Enter a title.")]
            return ""
        if not storable(title):
            errors["title"] = [_(UNSTORABLE)]
            return ""
        clean = " ".join(title.split())
        if not clean:
            errors["title"] = [_("Enter a title.")]
        elif len(clean) > TITLE_MAX_LENGTH:
            # The words of the case form's Length validator: one catalog entry for both.
            errors["title"] = [_("Shorten the title to %(max)d characters; it has %(length)d.",
                                 max=TITLE_MAX_LENGTH, length=len(clean))]
        return clean

    def _validate_choice(
        self, enum: type[Any], value: Any, field: str, errors: dict[str, list[str]]
    ) -> Any:
        try:
            return enum(value.strip().lower() if isinstance(value, str) else value)
        except ValueError:
            errors[field] = [_choice_message(enum)]
            return None

    def _validate_summary(self, summary: Any, errors: dict[str, list[str]]) -> str | None:
        if summary is None:
            return None
        if not isinstance(summary, str):
            errors["summary"] = [_("The summary must be text.")]
            return None
        if not storable(summary):
            errors["summary"] = [_(UNSTORABLE)]
            return None
        clean = plain_lines(summary)
        limit = self.config["KRONCASES_SUMMARY_MAX_LENGTH"]
        if len(clean) > limit:
            errors["summary"] = [_("Keep the summary to %(limit)d characters or fewer.", limit=limit)]
        return clean or None

    def select_messages(self, conversation: Any, messages: Iterable[Any]) -> list[Any]:
        """The selected host messages of ``conversation`` in the order given; refuse any other."""
        errors: dict[str, list[str]] = {}
        tokens = self._parse_messages(messages, errors)
        if tokens is None:
            raise CaseError(" ".join(errors["messages"]), errors=errors)
        host = self.models.host
        wanted = [token for token in tokens if token is not _OPENING and not isinstance(token, _NotAKey)]
        present: dict[Any, Any] = {}
        if wanted:
            conversation_key = self.conversation_key(conversation)
            Message = host.message.model
            for msg in self.session.scalars(sa.select(Message).where(host.message.pk_column.in_(wanted))):
                if host.conversation_key_of_message(msg) == conversation_key:
                    present[host.message.key_of(msg)] = msg
        keys, problems, opening = self._pick(conversation, tokens, present)
        if problems:
            raise CaseError(" ".join(problems), errors={"messages": problems})
        return [opening if key == OPENING_MESSAGE else present[key] for key in keys]

    def _validate_messages(
        self, conversation: Any, messages: Iterable[Any], errors: dict[str, list[str]], *, room: int | None = None
    ) -> tuple[list[Any], bool]:
        """Return the selected message keys in order, and whether a refusal is a conflict."""
        tokens = self._parse_messages(messages, errors, room=room)
        if tokens is None:
            return [], False
        _found, held, opening_held_by = self._read_selection(conversation, tokens)
        return self._check_selection(conversation, tokens, held, opening_held_by, errors)

    def _parse_messages(
        self, messages: Iterable[Any], errors: dict[str, list[str]], *, room: int | None = None
    ) -> list[Any] | None:
        """The selection as keys, :data:`_OPENING` and :class:`_NotAKey` items, in order; no query.

        None when the whole selection is refused (its problem is in ``errors``):
        more than ``KRONCASES_MAX_MESSAGES_PER_CASE`` items are refused before
        anything else is done with them, so no request can make the database
        bind an unbounded list.
        """
        host = self.models.host
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Iterable):
            errors["messages"] = [_("Select at least one message.")]
            return None
        limit = int(self.config["KRONCASES_MAX_MESSAGES_PER_CASE"])
        space = limit if room is None else max(room, 0)
        items = list(islice(messages, space + 1))
        if len(items) > space:
            too_many = ngettext("Select at most %(num)d message for one case.",
                                "Select at most %(num)d messages for one case.", limit)
            if room is not None:  # two sentences
                too_many += " " + ngettext("This case has room for %(num)d more.",
                                           "This case has room for %(num)d more.", space)
            errors["messages"] = [too_many]
            return None
        tokens: list[Any] = []
        for item in items:
            if item == OPENING_MESSAGE and self.hooks.opening_message is not None:
                tokens.append(_OPENING)
                continue
            key = host.message.key_of(item) if isinstance(item, host.message.model) else host.message.coerce_key(item)
            tokens.append(_NotAKey(_("%(item)s is not a message id.", item=repr(str(item)[:40]))) if key is None
                          else key)
        return tokens

    def _read_selection(self, conversation: Any, tokens: list[Any]) -> tuple[Any, dict[Any, Any], Any]:
        """The conversation, and what a selection needs to know of it, in one query.

        ``conversation`` is an instance or a key (loaded here; else
        :data:`NO_CONVERSATION`). Returns the conversation; each selected key
        that is a message of it, with the id of the case holding that message
        (None while it is in none): a message of another conversation is left
        out like one that does not exist; and, when the selection names the
        opening text, the id of the case holding it (or None).
        """
        host = self.models.host
        conv, msg = host.conversation, host.message
        given = isinstance(conversation, conv.model)
        key = conv.key_of(conversation) if given else conv.coerce_key(conversation)
        if key is None:
            raise CaseError(_(NO_CONVERSATION), kind="not_found")
        wanted = list(dict.fromkeys(t for t in tokens if t is not _OPENING and not isinstance(t, _NotAKey)))
        opening = _OPENING in tokens
        if not wanted and not opening:
            return self.conversation(conversation), {}, None
        stmt = sa.select(conv.pk_column if given else conv.model).select_from(conv.model)
        if wanted:
            Link = self.models.CaseMessage
            in_conversation = getattr(msg.model, host.message_conversation_attr) == conv.pk_column
            stmt = (
                stmt.add_columns(msg.pk_column.label("message_key"), Link.case_id.label("held_by"))
                .outerjoin(msg.model, sa.and_(in_conversation, msg.pk_column.in_(wanted)))
                .outerjoin(Link, Link.message_id == msg.pk_column)
            )
        if opening:
            Case = self.models.Case
            holder = (sa.select(Case.id).where(Case.conversation_id == conv.pk_column, Case.includes_opening.is_(True))
                      .limit(1).scalar_subquery())
            stmt = stmt.add_columns(holder.label("opening_held_by"))
        rows = self.session.execute(stmt.where(conv.pk_column == key)).all()
        if not rows:
            if not given:
                raise CaseError(_(NO_CONVERSATION), kind="not_found")
            return conversation, {}, None
        held = {row.message_key: row.held_by for row in rows if wanted and row.message_key is not None}
        return (conversation if given else rows[0][0]), held, (rows[0].opening_held_by if opening else None)

    def _pick(
        self, conversation: Any, tokens: list[Any], present: Container[Any]
    ) -> tuple[list[Any], list[str], Any]:
        """The selected keys (deduplicated, in order), the problems, and the opening text if selected.

        ``present`` holds the selected keys that are messages of ``conversation``;
        any other is refused with the same words as one that does not exist.
        """
        problems: list[str] = []
        keys: dict[Any, None] = {}  # ordered and linear, whatever the number of duplicates
        opening: Any = None
        asked = False
        for token in tokens:
            if token is _OPENING:
                if not asked:
                    opening, asked = self.hooks.read_opening(conversation), True
                if opening is None:
                    problems.append(_("This conversation has no opening text to select."))
                else:
                    keys.setdefault(OPENING_MESSAGE)
            elif isinstance(token, _NotAKey):
                problems.append(token.problem)
            else:
                keys.setdefault(token)
        if not keys and not problems:
            return [], [_("Select at least one message.")], None
        problems += [_("Message %(key)s is not in this conversation.", key=key)
                     for key in keys if key != OPENING_MESSAGE and key not in present]
        return list(keys), problems, opening

    def _check_selection(
        self, conversation: Any, tokens: list[Any], held: dict[Any, Any], opening_held_by: Any,
        errors: dict[str, list[str]],
    ) -> tuple[list[Any], bool]:
        """The selected keys in order, and whether a refusal is a conflict; problems go to ``errors``.

        ``held`` and ``opening_held_by`` as :meth:`_read_selection` returns them.
        """
        keys, problems, _opening = self._pick(conversation, tokens, held)
        if problems:
            errors["messages"] = problems
            return keys, False
        holders = {key: opening_held_by if key == OPENING_MESSAGE else held[key] for key in keys}
        taken = [_already_logged(key, holders[key]) for key in keys if holders[key] is not None]
        if taken:
            errors["messages"] = taken
        return keys, bool(taken)

    # -- status moves ----------------------------------------------------

    def set_status(self, case: Any, status: Any, *, by: Any) -> Any:
        """Move a case to ``status`` if the status moves allow it."""
        errors: dict[str, list[str]] = {}
        target = self._validate_choice(Status, status, "status", errors)
        if errors:
            raise CaseError(errors["status"][0], errors=errors)
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        return self._move(case, actor, target)

    def resolve(self, case: Any, *, by: Any) -> Any:
        return self.set_status(case, Status.RESOLVED, by=by)

    def reopen(self, case: Any, *, by: Any) -> Any:
        """Move a resolved case back to open."""
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        if case.status != Status.RESOLVED.value:
            message = _(_NOT_REOPENABLE[Status(case.status)], id=case.id)
            raise CaseError(message, kind="conflict", errors={"status": [message]})
        return self._move(case, actor, Status.OPEN)

    def _move(self, case: Any, actor: Any, target: Status) -> Any:
        current = Status(case.status)
        if target == current:
            message = _(_ALREADY[current], id=case.id)
            raise CaseError(message, kind="conflict", errors={"status": [message]})
        if target not in TRANSITIONS[current]:
            message = _(_REFUSED_MOVES.get((current, target), N_("This status move is not allowed.")))
            raise CaseError(message, kind="conflict", errors={"status": [message]})

        change = self.work.change(case, actor, while_doing=f"marked {target.value}")
        now = change.now

        def write() -> None:
            case.status = target.value
            case.updated_at = now
            if target == Status.RESOLVED:
                case.resolved_at = now
            due_service.on_status(self.config, case, current, now)

        change.rows(write).activity(ActivityKind.STATUS_CHANGED, from_status=current, to_status=target)
        change.signal(signals.case_status_changed, previous=current)
        if target == Status.RESOLVED:
            if not label_service.exists(self.session, self.models, case, LABEL_SUPPORT_CASE_RESOLVED):
                change.label(LABEL_SUPPORT_CASE_RESOLVED)
            change.event("case.resolved", previous_status=current.value)
            change.signal(signals.case_resolved, previous=current)
        elif current == Status.RESOLVED:
            change.event("case.reopened", previous_status=current.value)
            change.signal(signals.case_reopened)
        return change.commit()

    def escalate(self, case: Any, *, by: Any, reason: Any) -> Any:
        """Raise the case's escalation level, with the agent's reason."""
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        limit = self.config["KRONCASES_REASON_MAX_LENGTH"]
        clean = plain_lines(reason) if isinstance(reason, str) else ""
        if not storable(clean):
            raise CaseError(_(UNSTORABLE), errors={"reason": [_(UNSTORABLE)]})
        if not clean:
            message = _("Say why the case is escalated.")
            raise CaseError(message, errors={"reason": [message]})
        if len(clean) > limit:
            message = _("Keep the reason to %(limit)d characters or fewer.", limit=limit)
            raise CaseError(message, errors={"reason": [message]})
        if Status(case.status) not in ESCALATABLE:
            message = _("A resolved case cannot be escalated; reopen Case #%(id)s first.", id=case.id)
            raise CaseError(message, kind="conflict", errors={"status": [message]})

        change = self.work.change(case, actor, while_doing="escalated")
        level = (case.escalation_level or 0) + 1
        status = Status(case.status)
        now = change.now

        def write() -> None:
            case.escalation_level = level
            case.escalation_reason = clean
            case.escalated_at = now
            case.updated_at = now

        return (
            change.rows(write)
            .activity(ActivityKind.ESCALATED, from_status=status, to_status=status,
                      detail={"reason": clean, "level": level})
            .event("case.escalated", reason=clean, level=level)
            .signal(signals.case_escalated, reason=clean, level=level)
            .commit()
        )

    # -- working a case: owner, fields, more messages, notes ------------------

    def user(self, user: Any) -> Any:
        """A host user by key (or instance), or :data:`NO_AGENT`."""
        host = self.models.host.user
        user = unwrap_user(user)
        if isinstance(user, host.model):
            return user
        key = host.coerce_key(user)
        found = self.session.get(host.model, key) if key is not None else None
        if found is None:
            raise CaseError(_(NO_AGENT), errors={"assignee": [_(NO_AGENT)]})
        return found

    def assignable_users(self, case: Any, *, by: Any = None, limit: int = 200, scan: int = 2000) -> list[Any]:
        """Host users who may own the case (they may see its conversation), by name.

        For the case page's owner list, so it stays bounded: users are read in
        key order, ``limit`` at a time, until ``limit`` are found or ``scan``
        were read. The API's ``assign`` takes any user key beyond these.
        """
        conversation = self.get_case(case, by=by).conversation
        host = self.models.host.user
        found: list[Any] = []
        read, last = 0, None
        while len(found) < limit and read < scan:
            stmt: Any = sa.select(host.model).order_by(host.pk_column).limit(min(limit, scan - read))
            if last is not None:
                stmt = stmt.where(host.pk_column > last)
            batch = list(self.session.scalars(stmt))
            if not batch:
                break
            read, last = read + len(batch), host.key_of(batch[-1])
            found.extend(user for user in batch if self.can_see(user, conversation))
        return sorted(found[:limit], key=lambda user: self.hooks.display_name(user).casefold())

    def assign(self, case: Any, assignee: Any, *, by: Any) -> Any:
        """Give the case an owner (a host user or key), or none with ``assignee=None``.

        The new owner must be allowed to see the case's conversation.
        """
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        user_model = self.models.host.user
        new = None if assignee is None or assignee == "" else self.user(assignee)
        if new is not None and not self.can_see(new, case.conversation):
            message = _("%(name)s may not see this conversation, so cannot own Case #%(id)s.",
                        name=self.hooks.display_name(new), id=case.id)
            raise CaseError(message, errors={"assignee": [message]})
        new_key = user_model.key_of(new) if new is not None else None
        if new_key == case.assignee_id:
            message = (_("Case #%(id)s is already assigned to %(name)s.", id=case.id, name=self.hooks.display_name(new))
                       if new is not None else _("Case #%(id)s has no owner already.", id=case.id))
            raise CaseError(message, kind="conflict", errors={"assignee": [message]})
        previous = case.assignee
        change = self.work.change(case, actor, while_doing="assigned")
        now = change.now

        def write() -> None:
            case.assignee_id = new_key
            case.assignee = new
            case.updated_at = now

        status = Status(case.status)
        detail = {
            "assignee_id": json_key(new_key),
            "assignee_name": self.hooks.display_name(new) if new is not None else None,
            "previous_id": json_key(case.assignee_id),
            "previous_name": self.hooks.display_name(previous) if previous is not None else None,
        }
        previous_json = None if previous is None else {"id": detail["previous_id"], "name": detail["previous_name"]}
        return (
            change.rows(write)
            .activity(ActivityKind.ASSIGNED, from_status=status, to_status=status, detail=detail)
            .event("case.assigned", previous_assignee=previous_json)
            .signal(signals.case_assigned, previous=previous)
            .commit()
        )

    def update(self, case: Any, *, by: Any, title: Any = None, case_type: Any = None, priority: Any = None) -> Any:
        """Change any of title, type and priority (None leaves one as it is); a new priority moves the due time."""
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        errors: dict[str, list[str]] = {}
        wanted: dict[str, Any] = {}
        if title is not None:
            wanted["title"] = self._validate_title(title, errors)
        if case_type is not None:
            chosen = self._validate_choice(CaseType, case_type, "case_type", errors)
            wanted["case_type"] = chosen.value if chosen is not None else None
        if priority is not None:
            chosen = self._validate_choice(Priority, priority, "priority", errors)
            wanted["priority"] = chosen.value if chosen is not None else None
        if errors:
            raise CaseError(_("Case #%(id)s was not changed: %(problems)s", id=case.id, problems=_all(errors)),
                            errors=errors)
        if not wanted:
            raise CaseError(_("Say what to change: a title, a case type or a priority."))
        changes = {name: (getattr(case, name), value) for name, value in wanted.items() if getattr(case, name) != value}
        if not changes:
            raise CaseError(_("Case #%(id)s already has these values.", id=case.id), kind="conflict")
        change = self.work.change(case, actor, while_doing="changed")
        now = change.now

        def write() -> None:
            for name, (_old, value) in changes.items():
                setattr(case, name, value)
            case.updated_at = now
            if "priority" in changes and case.due_at is not None:
                case.due_at = due_service.due_at(self.config, case)

        status = Status(case.status)
        return (
            change.rows(write)
            .activity(ActivityKind.UPDATED, from_status=status, to_status=status,
                      detail={"changes": {name: list(pair) for name, pair in changes.items()}})
            .signal(signals.case_updated, changes=changes)
            .commit()
        )

    def add_messages(self, case: Any, messages: Iterable[Any], *, by: Any) -> Any:
        """Add messages of the case's conversation that are in no case yet.

        A machine-written summary is rewritten by a job to cover them; a summary
        the agent wrote is kept.
        """
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        if Status(case.status) not in WORKING:
            message = _("Case #%(id)s is resolved; reopen it before adding messages.", id=case.id)
            raise CaseError(message, kind="conflict", errors={"messages": [message]})
        errors: dict[str, list[str]] = {}
        room = int(self.config["KRONCASES_MAX_MESSAGES_PER_CASE"]) - len(case.message_ids)
        selected, conflict = self._validate_messages(case.conversation, messages, errors, room=room)
        if errors:
            raise CaseError(
                _("No message was added: %(problems)s", problems=_all(errors)),
                kind="conflict" if conflict else "invalid",
                errors=errors,
            )
        change = self.work.change(case, actor, while_doing="given more messages")
        now = change.now
        Link = self.models.CaseMessage

        def write() -> None:
            for key in selected:
                if key == OPENING_MESSAGE:
                    case.includes_opening = True
                else:
                    case.message_links.append(Link(message_id=key))
            case.updated_at = now

        status = Status(case.status)
        change.rows(write).activity(
            ActivityKind.MESSAGES_ADDED, from_status=status, to_status=status,
            detail={"message_count": len(selected), "message_ids": [json_key(k) for k in selected]},
        ).signal(signals.case_messages_added, messages=list(selected))
        if not (case.summary_by_agent and case.summary) and self.schedule_summary is not None:
            schedule = self.schedule_summary
            change.after_commit(lambda: schedule(case, overwrite=True))
        return change.commit()

    def add_note(self, case: Any, text: Any, *, by: Any) -> Any:
        """Leave an internal note on the case; returns the note. Notes never go out in webhooks."""
        case = self.get_case(case)
        actor = self.authorize(by, case.conversation, not_found=NO_CASE)
        clean = plain_lines(text) if isinstance(text, str) else ""
        problem = None
        if not storable(clean):
            problem = _(UNSTORABLE)
        elif not clean:
            problem = _("Write the note first.")
        elif len(clean) > NOTE_MAX_LENGTH:
            problem = _("Keep the note to %(limit)d characters or fewer (it has %(length)d).",
                        limit=NOTE_MAX_LENGTH, length=len(clean))
        if problem:
            raise CaseError(problem, errors={"note": [problem]})
        change = self.work.change(case, actor, while_doing="given a note")
        note = self.models.CaseNote(body=clean, author_id=self.models.host.user.key_of(actor), created_at=change.now)
        detail: dict[str, Any] = {"length": len(clean)}

        def write() -> None:
            case.notes.append(note)
            case.updated_at = change.now
            self.session.flush()  # the note's id, for the activity entry
            detail["note_id"] = note.id

        status = Status(case.status)
        change.rows(write).activity(ActivityKind.NOTE_ADDED, from_status=status, to_status=status, detail=detail)
        change.signal(signals.case_note_added, note=note).commit()
        return note

    # -- due times ---------------------------------------------------------

    def overdue(self, *, by: Any, now: Any = None) -> Any:
        """The open and pending cases past their due time that ``by`` may see, most overdue first.

        A ``select()`` the host can page (``db.paginate``) or filter further.
        """
        user = unwrap_user(by)
        Case = self.models.Case
        now = now or utcnow()
        stmt = sa.select(Case).where(due_service.overdue_clause(Case, now))
        return self.visible(stmt, user).order_by(Case.due_at, Case.id)

    def visible(self, stmt: Any, user: Any) -> Any:
        """Limit a ``select()`` over cases to the conversations ``user`` may see.

        In SQL when the host registered ``visible_conversations``; otherwise the
        access hook is asked once per conversation the statement could return.
        """
        Case = self.models.Case
        conv = self.models.host.conversation
        if not is_signed_in(user):
            return stmt.where(sa.false())
        clause = self.hooks.visible_clause(user)
        if clause is not None:
            return stmt.join(conv.model, Case.conversation_id == conv.pk_column).where(clause)
        keys = set(self.session.scalars(stmt.with_only_columns(Case.conversation_id).distinct().order_by(None)))
        allowed = self._visible_keys(user, keys)
        if not allowed:
            return stmt.where(sa.false())
        if self.session.get_bind().dialect.name == "postgresql":
            # One array parameter: IN (...) binds one per key, and PostgreSQL takes at most 65,535.
            keys_param = sa.bindparam("kc_visible_keys", list(allowed), type_=postgresql.ARRAY(conv.pk_column.type))
            return stmt.where(Case.conversation_id == sa.any_(keys_param))
        return stmt.where(Case.conversation_id.in_(list(allowed)))

    def sweep_overdue(self, *, now: Any = None, batch: int = 500) -> int:
        """The worker's sweep: send ``case.overdue`` once per due time for each newly overdue case.

        Marked with a plain ``UPDATE`` guarded by the due time it reports and by
        the overdue condition itself, so an agent's change meanwhile (a new due
        time, a pause, a resolve) wins and the next sweep looks again.
        Returns how many cases were reported.
        """
        Case = self.models.Case
        now = now or utcnow()
        # The due times as selected: the mark must report these, not what the row holds by then.
        due = self.session.execute(
            sa.select(Case.id, Case.due_at)
            .where(due_service.overdue_clause(Case, now),
                   sa.or_(Case.overdue_notified_for.is_(None), Case.overdue_notified_for != Case.due_at))
            .order_by(Case.due_at, Case.id)
            .limit(batch)
        ).all()
        self.session.commit()
        reported = 0
        for case_id, due_at in due:
            if self._report_overdue(case_id, due_at, now):
                reported += 1
        return reported

    def _report_overdue(self, case_id: int, due_at: Any, now: Any) -> bool:
        Case = self.models.Case
        case = self.session.get(Case, case_id)
        if case is None:
            return False
        change = self.work.change(case, None, while_doing="marked overdue")

        def write() -> None:
            marked = self.session.execute(
                sa.update(Case)
                .where(Case.id == case_id, Case.due_at == due_at, due_service.overdue_clause(Case, now),
                       sa.or_(Case.overdue_notified_for.is_(None), Case.overdue_notified_for != due_at))
                .values(overdue_notified_for=due_at)
                .execution_options(synchronize_session=False)
            )
            if marked.rowcount != 1:
                raise NothingChanged

        status = Status(case.status)
        change.rows(write).activity(ActivityKind.OVERDUE, from_status=status, to_status=status,
                                    detail={"due_at": iso(due_at)})
        change.event("case.overdue", due_at=iso(due_at)).signal(signals.case_overdue)
        try:
            change.commit()
        except NothingChanged:
            return False
        return True

    def _visible_keys(self, user: Any, keys: set[Any]) -> set[Any]:
        """Ask the access hook once per conversation, loading them 500 at a time."""
        conv = self.models.host.conversation
        allowed: set[Any] = set()
        pending = list(keys)
        for start in range(0, len(pending), 500):
            batch = pending[start : start + 500]
            for conversation in self.session.scalars(sa.select(conv.model).where(conv.pk_column.in_(batch))):
                if self.can_see(user, conversation):
                    allowed.add(conv.key_of(conversation))
        return allowed

    # -- plumbing --------------------------------------------------------

    def conversation_key(self, conversation: Any) -> Any:
        host = self.models.host.conversation
        if isinstance(conversation, host.model):
            return host.key_of(conversation)
        return host.coerce_key(conversation)


def _fully_loaded(instance: Any) -> bool:
    """Whether reading ``instance``'s columns costs no query (nothing of it expired, as after a commit)."""
    state = sa.inspect(instance)
    return not state.expired and not state.expired_attributes


def plain_lines(text: str) -> str:
    """Trim, and use ``\n`` for line breaks: browsers submit textareas with ``\r\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()
