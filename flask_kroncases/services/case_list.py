"""The cases page: every case an agent may see, worked in bulk and exported.

Filters, sorting and pagination run in SQL. Access runs in SQL too when the
host registered ``visible_conversations``; otherwise the ``conversation_access``
hook is asked once per conversation, before counting, so page counts stay
right whatever it refuses. A bulk change goes through the same
:class:`~.cases.CaseService` method as a single one, one call (and one unit of
work) per case, so a refused case leaves nothing behind and never stops the
others. The CSV export reads the cases in batches, so memory stays flat
however many there are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import lazyload, selectinload

from ..enums import CaseType, Priority, Status
from ..errors import CaseError
from ..hooks import HostHooks, is_signed_in, unwrap_user
from ..i18n import gettext as _
from ..i18n import ngettext
from ..models import Models, utcnow
from . import due as due_service
from .base import Service
from .cases import CaseService
from .serialization import iso, json_key

#: Most cases one bulk request may change (a page holds fewer): a longer list is refused whole.
BULK_LIMIT = 100
#: Cases read per query while exporting.
EXPORT_BATCH = 500
#: Most owners offered in the Assignee filter and the bulk Assign list.
OWNER_CHOICES = 200
#: Rows read per round trip while the access hook decides what an agent sees.
_SCAN_BATCH = 2000
#: Conversations loaded per query for the access hook.
_LOAD_BATCH = 500

SORTS = ("updated", "due", "priority")
#: The CSV's header row: one line per case, in case id order.
EXPORT_COLUMNS = (
    "id", "title", "type", "priority", "status", "owner", "due_at", "created_at", "updated_at", "resolved_at",
    "conversation_id", "case_url",
)
#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _values(enum: type[Any]) -> set[str]:
    return {member.value for member in enum}


@dataclass(frozen=True)
class CaseFilters:
    """What the cases page shows: its query string, cleaned.

    Unknown values are dropped rather than refused, so an old link or a
    hand-edited URL still opens the page.
    """

    status: str | None = None
    case_type: str | None = None
    priority: str | None = None
    query: str | None = None
    #: ``"me"``, ``"none"`` (unassigned) or a host user key as text.
    assignee: str | None = None
    overdue: bool = False
    sort: str = "updated"

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> CaseFilters:
        def text(name: str, limit: int) -> str | None:
            value = args.get(name)
            if not value:
                return None
            return " ".join(str(value).replace("\x00", "").split())[:limit] or None

        def choice(name: str, enum: type[Any]) -> str | None:
            value = args.get(name)
            return value if value in _values(enum) else None

        sort = args.get("sort")
        return cls(
            status=choice("status", Status),
            case_type=choice("type", CaseType),
            priority=choice("priority", Priority),
            query=text("q", 200),
            assignee=text("assignee", 100),
            overdue=args.get("overdue") in ("1", "on", "true"),
            sort=sort if isinstance(sort, str) and sort in SORTS else "updated",
        )

    def as_args(self, **changes: Any) -> dict[str, Any]:
        """The query string for these filters (defaults left out), with ``changes`` applied."""
        values = {
            "status": self.status, "type": self.case_type, "priority": self.priority, "q": self.query,
            "assignee": self.assignee, "overdue": "1" if self.overdue else None,
            "sort": self.sort if self.sort != "updated" else None,
        }
        values.update(changes)
        return {name: str(value) for name, value in values.items() if value}

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (the sort does not)."""
        return bool(self.status or self.case_type or self.priority or self.query or self.assignee or self.overdue)


@dataclass(frozen=True)
class Owner:
    """An agent in the Assignee filter: the key as the form sends it, and the name shown."""

    key: str
    name: str


@dataclass
class CasePage:
    """One page of :meth:`CaseListService.search`."""

    items: list[Any]
    page: int
    per_page: int
    #: The cases that match; with :attr:`more`, a lower bound (``KRONCASES_COUNT_LIMIT``).
    total: int
    #: True when more cases match than were counted: pages go on past :attr:`pages`.
    more: bool = False
    #: Agents who own cases the viewer may see, by name (at most :data:`OWNER_CHOICES`).
    owners: list[Owner] = field(default_factory=list)
    #: Ids of the cases on the page that are past their due time.
    overdue: set[Any] = field(default_factory=set)
    #: The viewer's own user key, as text (for "Assign to me" and "Mine").
    viewer_key: str | None = None

    @property
    def pages(self) -> int:
        """The last page; with :attr:`more`, the last one counted (pages go on after it)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        if self.more and self.page >= self.pages:
            return len(self.items) == self.per_page  # past the count: a full page may have a next one
        return self.page < self.pages


@dataclass(frozen=True)
class BulkResult:
    """What happened to one case of a bulk change.

    ``text`` is in the language of the agent who made the change (the one who
    reads the results, on the page the change redirects to).
    """

    case_id: str
    ok: bool
    text: str

    @property
    def line(self) -> str:
        """"Case #12: already resolved"; a text that opens with its case (a translated refusal) alone."""
        if self.text.startswith(_("Case #%(id)s", id=self.case_id)):
            return self.text
        return _("Case #%(id)s: %(result)s", id=self.case_id, result=self.text)


class _Access:
    """Which conversations one agent may see, for the length of one request.

    The host's SQL clause when it gave one; else the access hook, asked once
    per conversation, for conversations loaded a batch at a time.
    """

    def __init__(self, service: CaseListService, user: Any) -> None:
        self.service = service
        self.user = user
        signed_in = is_signed_in(user)
        self.clause = service.hooks.visible_clause(user) if signed_in else sa.false()
        self.known: dict[Any, bool] = {}
        self.refuse_all = not signed_in

    @property
    def in_sql(self) -> bool:
        return self.clause is not None

    def limit(self, stmt: Any) -> Any:
        """Join the host's conversations and apply its clause (only when :attr:`in_sql`)."""
        Case = self.service.models.Case
        conv = self.service.models.host.conversation
        return stmt.join(conv.model, Case.conversation_id == conv.pk_column).where(self.clause)

    def allowed(self, keys: Iterable[Any]) -> set[Any]:
        """The keys among ``keys`` the agent may see; the hook is asked only about new ones."""
        keys = set(keys)
        unknown = [key for key in keys if key not in self.known]
        conv = self.service.models.host.conversation
        for start in range(0, len(unknown), _LOAD_BATCH):
            batch = unknown[start : start + _LOAD_BATCH]
            for key in batch:
                self.known[key] = False
            if self.refuse_all:
                continue
            for conversation in self.service.session.scalars(sa.select(conv.model).where(conv.pk_column.in_(batch))):
                key = conv.key_of(conversation)
                self.known[key] = self.service.cases.can_see(self.user, conversation)
        return {key for key in keys if self.known.get(key)}


class CaseListService(Service):
    """The cases page's queries and bulk changes, over the case service."""

    def __init__(self, db: Any, models: Models, hooks: HostHooks, cases: CaseService) -> None:
        super().__init__(db, models)
        self.hooks = hooks
        self.cases = cases

    # -- the list --------------------------------------------------------------

    def search(
        self, user: Any, filters: CaseFilters | None = None, *, page: int = 1, per_page: int = 25,
        now: datetime | None = None,
    ) -> CasePage:
        """One page of the cases ``user`` may see that match ``filters``, in their sort order.

        A page past the last one shows the last one (after a bulk change
        emptied it, say).
        """
        user = unwrap_user(user)
        filters = filters or CaseFilters()
        now = now or utcnow()
        Case = self.models.Case
        access = _Access(self, user)
        stmt = self._filtered(sa.select(Case.id), filters, user, now).order_by(*self._order(filters.sort))
        per_page = max(1, per_page)
        page = max(1, page)
        more = False
        if access.in_sql:
            stmt = access.limit(stmt)
            cap = self.config.get("KRONCASES_COUNT_LIMIT")
            total = self._count(stmt, cap)
            more = cap is not None and total > cap
            if more:
                total = cap
            ids = self._page_ids(stmt, page, per_page) if more else []
            if not ids:  # within the count, or past the end of a long list (after a bulk change emptied it)
                if more and page > 1:
                    total, more = self._count(stmt, None), False
                page = min(page, max(1, -(-total // per_page)))
                ids = self._page_ids(stmt, page, per_page)
        else:
            visible = list(self._visible_ids(stmt, access))
            total = len(visible)
            page = min(page, max(1, -(-total // per_page)))
            ids = visible[(page - 1) * per_page : page * per_page]
        found = {
            case.id: case
            for case in self.session.scalars(
                sa.select(Case).where(Case.id.in_(ids))
                .options(selectinload(Case.conversation), selectinload(Case.assignee))
            )
        } if ids else {}
        # The access hook has the last word on what is shown, even where the SQL clause decided:
        # the page's few conversations, answered from the request's memo when already asked.
        items = [found[i] for i in ids if i in found and self.cases.can_see(user, found[i].conversation)]
        return CasePage(
            items=items, page=page, per_page=per_page, total=total, more=more,
            owners=self._owners(access),
            overdue={case.id for case in items if due_service.is_overdue(case, now)},
            viewer_key=str(json_key(self._key_of(user))) if is_signed_in(user) else None,
        )

    def _count(self, stmt: Any, cap: int | None) -> int:
        """How many rows ``stmt`` selects; with ``cap``, stop counting past it (``cap + 1`` means more).

        An exact count reads every case the agent may see: about 0.2 s at a
        million. Past ``KRONCASES_COUNT_LIMIT`` the page says "more than".
        """
        rows = stmt.order_by(None)
        if cap is not None:
            rows = rows.limit(cap + 1)
        return int(self.session.scalar(sa.select(sa.func.count()).select_from(rows.subquery())) or 0)

    def _page_ids(self, stmt: Any, page: int, per_page: int) -> list[Any]:
        return list(self.session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)))

    def _key_of(self, user: Any) -> Any:
        host = self.models.host.user
        return host.key_of(user) if isinstance(user, host.model) else None

    def _filtered(self, stmt: Any, filters: CaseFilters, user: Any, now: datetime) -> Any:
        """``stmt`` (a select over cases) narrowed by ``filters``, in SQL."""
        Case = self.models.Case
        if filters.status in _values(Status):
            stmt = stmt.where(Case.status == filters.status)
        if filters.case_type in _values(CaseType):
            stmt = stmt.where(Case.case_type == filters.case_type)
        if filters.priority in _values(Priority):
            stmt = stmt.where(Case.priority == filters.priority)
        for word in (filters.query or "").replace("\x00", "").split()[:8]:
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Case.title.ilike(f"%{escaped}%", escape="\\"))
        if filters.assignee == "none":
            stmt = stmt.where(Case.assignee_id.is_(None))
        elif filters.assignee == "me":
            me = self._key_of(user)
            stmt = stmt.where(Case.assignee_id == me if me is not None else sa.false())
        elif filters.assignee:
            key = self.models.host.user.coerce_key(filters.assignee)
            stmt = stmt.where(Case.assignee_id == key if key is not None else sa.false())
        if filters.overdue:
            stmt = stmt.where(due_service.overdue_clause(Case, now))
        return stmt

    def _order(self, sort: str) -> list[Any]:
        Case = self.models.Case
        if sort == "due":  # soonest first; cases without a due time (resolved) last
            return [sa.case((Case.due_at.is_(None), 1), else_=0), Case.due_at, Case.id]
        if sort == "priority":  # urgent first, then most recently changed
            ranks = {p.value: n for n, p in enumerate(reversed(Priority))}
            rank = sa.case(ranks, value=Case.priority, else_=len(ranks))
            return [rank, Case.updated_at.desc(), Case.id.desc()]
        return [Case.updated_at.desc(), Case.id.desc()]

    def _visible_ids(self, stmt: Any, access: _Access) -> Iterator[Any]:
        """The ids ``stmt`` selects, in its order, of the cases the access hook lets through."""
        Case = self.models.Case
        rows = self.session.execute(stmt.add_columns(Case.conversation_id).execution_options(yield_per=_SCAN_BATCH))
        for partition in rows.partitions():
            allowed = access.allowed({key for _case_id, key in partition})
            yield from (case_id for case_id, key in partition if key in allowed)

    def _owners(self, access: _Access) -> list[Owner]:
        """Agents who own at least one case the viewer may see, by name; bounded."""
        Case = self.models.Case
        host = self.models.host.user
        keys: list[Any] = []
        if access.in_sql:
            keys = list(self.session.scalars(self._visible_owners(access).limit(OWNER_CHOICES)))
        else:
            stmt = (sa.select(Case.assignee_id, Case.conversation_id).where(Case.assignee_id.is_not(None)).distinct()
                    .execution_options(yield_per=_SCAN_BATCH))
            seen: set[Any] = set()
            for partition in self.session.execute(stmt).partitions():
                allowed = access.allowed({conversation for _owner, conversation in partition})
                for key, conversation in partition:
                    if conversation in allowed and key not in seen:
                        seen.add(key)
                        keys.append(key)
                if len(keys) >= OWNER_CHOICES:
                    break
            keys = keys[:OWNER_CHOICES]
        if not keys:
            return []
        users = self.session.scalars(sa.select(host.model).where(host.pk_column.in_(keys)))
        owners = [Owner(str(json_key(host.key_of(u))), self.hooks.display_name(u)) for u in users]
        return sorted(owners, key=lambda owner: (owner.name.casefold(), owner.key))

    def _visible_owners(self, access: _Access) -> Any:
        """The assignees with a case the viewer may see, as a statement: a few index probes per owner.

        A ``DISTINCT`` over the cases joined to the host's conversations reads
        every case (a quarter of a second at a million, seconds with a generic
        plan). Instead the assignee index is walked from one owner to the next
        (a recursive "the first visible case's assignee after the previous
        one", in index order): as many steps as there are owners, each reading
        only the cases of an owner that the viewer may not see.
        """
        Case = self.models.Case
        owner = Case.assignee_id

        def next_owner(after: Any) -> Any:
            found = access.limit(sa.select(owner).select_from(Case).where(after))
            return found.order_by(owner).limit(1).scalar_subquery()

        walk = sa.select(next_owner(owner.is_not(None)).label("key")).cte("kc_owners", recursive=True)
        walk = walk.union_all(sa.select(next_owner(owner > walk.c.key)).where(walk.c.key.is_not(None)))
        return sa.select(walk.c.key).where(walk.c.key.is_not(None))

    # -- bulk changes ----------------------------------------------------------

    def bulk(self, user: Any, case_ids: Iterable[Any], action: Any) -> list[BulkResult]:
        """Apply ``action`` to each case, one service call (and commit) per case.

        ``action`` is ``assign:me``, ``assign:none``, ``assign:<user key>``,
        ``status:pending``, ``status:open``, ``status:resolved``, ``reopen`` or
        ``priority:<priority>``. An unknown action, no case, more than
        :data:`BULK_LIMIT` cases or an unknown agent refuse the whole request
        before anything is changed; a case that is refused (missing, not
        visible, already so) is reported in its row and the others go on.
        """
        user = unwrap_user(user)
        if not is_signed_in(user):
            raise CaseError(_("Sign in to work with cases."), kind="forbidden")
        operation = self._operation(user, action)
        ids = self._bulk_ids(case_ids)
        results: list[BulkResult] = []
        for raw in ids:
            label = "".join(ch for ch in raw[:20] if ch.isprintable())  # an id as sent, shown back harmlessly
            try:
                case = self.cases.get_case(raw, by=user)
                label = str(case.id)
                text = operation(case)
            except CaseError as exc:
                results.append(BulkResult(label, False, _refusal(label, exc)))
            else:
                results.append(BulkResult(label, True, text))
        return results

    @staticmethod
    def _bulk_ids(case_ids: Iterable[Any]) -> list[str]:
        if isinstance(case_ids, (str, bytes)) or not isinstance(case_ids, Iterable):
            case_ids = [case_ids]
        # A form never sends more than a page, but a request could: stop one past the limit.
        ids: dict[str, None] = {}
        for item in case_ids:
            text = str(item).strip()
            if text:
                ids.setdefault(text)
            if len(ids) > BULK_LIMIT:
                raise CaseError(
                    ngettext("Select at most %(num)d case at a time; nothing was changed.",
                             "Select at most %(num)d cases at a time; nothing was changed.", BULK_LIMIT),
                    errors={"case_ids": [ngettext("At most %(num)d case.", "At most %(num)d cases.", BULK_LIMIT)]})
        if not ids:
            raise CaseError(_("Select at least one case first; nothing was changed."),
                            errors={"case_ids": [_("Select at least one case.")]})
        return list(ids)

    def _operation(self, user: Any, action: Any) -> Callable[[Any], str]:
        """The service call for ``action``, checked before any case is touched."""
        verb, _colon, value = (action if isinstance(action, str) else "").partition(":")
        cases = self.cases
        if verb == "assign" and value in ("me", "none"):
            target = user if value == "me" else None
            done = _("assigned to you") if value == "me" else _("unassigned")

            def assign(case: Any) -> str:
                cases.assign(case, target, by=user)
                return done

            return assign
        if verb == "assign" and value:
            agent = cases.user(value)  # an unknown agent refuses the whole request
            name = self.hooks.display_name(agent)

            def assign_to(case: Any) -> str:
                cases.assign(case, agent, by=user)
                return _("assigned to %(name)s", name=name)

            return assign_to
        if verb == "status" and value in _values(Status):
            done = {"pending": _("marked pending"), "open": _("marked open"), "resolved": _("resolved")}[value]

            def move(case: Any) -> str:
                cases.set_status(case, value, by=user)
                return done

            return move
        if verb == "reopen" and not value:

            def reopen(case: Any) -> str:
                cases.reopen(case, by=user)
                return _("reopened")

            return reopen
        if verb == "priority" and value in _values(Priority):
            label = Priority(value).label

            def prioritize(case: Any) -> str:
                cases.update(case, priority=value, by=user)
                return _("priority set to %(priority)s", priority=label)

            return prioritize
        raise CaseError(_("Choose what to do with the selected cases."), errors={"action": [_("Choose an action.")]})

    # -- CSV export ------------------------------------------------------------

    def export_csv(
        self, user: Any, filters: CaseFilters | None = None, *, case_url: Callable[[Any], str],
        now: datetime | None = None, batch: int | None = None,
    ) -> Iterator[str]:
        """The matching cases ``user`` may see as CSV text, a batch of rows per chunk, in case id order.

        A generator: nothing is read until the first chunk is asked for, and
        each chunk comes from one keyset query (``id > last``) of ``batch``
        (default :data:`EXPORT_BATCH`) cases, so memory stays flat for any
        number of cases. UTF-8 with a byte
        order mark (spreadsheets read the accents right); a cell that a
        spreadsheet would run as a formula starts with an apostrophe.
        """
        user = unwrap_user(user)
        filters = filters or CaseFilters()
        now = now or utcnow()
        batch = max(1, batch or EXPORT_BATCH)
        Case = self.models.Case
        access = _Access(self, user)
        base = self._filtered(sa.select(Case), filters, user, now)
        if access.in_sql:
            base = access.limit(base)
        base = base.options(lazyload(Case.message_links), selectinload(Case.assignee)).order_by(Case.id)
        name_of = self.hooks.display_name
        yield "\ufeff" + _csv_lines([EXPORT_COLUMNS])
        last = None
        while True:
            stmt = base if last is None else base.where(Case.id > last)
            rows = list(self.session.scalars(stmt.limit(batch)))
            if not rows:
                return
            last, complete = rows[-1].id, len(rows) < batch
            if not access.in_sql:
                allowed = access.allowed({case.conversation_id for case in rows})
                rows = [case for case in rows if case.conversation_id in allowed]
            if rows:
                yield _csv_lines(
                    (case.id, case.title, case.case_type, case.priority, case.status,
                     name_of(case.assignee) if case.assignee is not None else "",
                     iso(case.due_at), iso(case.created_at), iso(case.updated_at),
                     iso(case.resolved_at if case.status == Status.RESOLVED.value else None),  # not a stale one
                     json_key(case.conversation_id), case_url(case.id))
                    for case in rows
                )
            if complete:
                return


def csv_cell(value: Any) -> str:
    """One CSV cell as text, defused: a leading ``= + - @``, tab or CR gets an apostrophe in front."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_lines(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def _refusal(label: str, exc: CaseError) -> str:
    """A service refusal as a row of the results: "not found", "already resolved" ...

    The English message loses its "Case #ID is" (the row names the case); a
    translated one is shown whole, since its wording is not ours to cut.
    """
    if exc.kind == "not_found":
        return _("not found")
    text = exc.message.rstrip(".")
    for prefix in (f"Case #{label} is ", f"Case #{label} "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text
