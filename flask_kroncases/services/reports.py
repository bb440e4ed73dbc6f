"""The reports page's figures: what is open, what came in and went out, how long cases take.

Every figure is counted in SQL (``GROUP BY``, ``COUNT``, date buckets, a median)
over the cases the agent may see, limited by :meth:`CaseService.visible`: one
statement, whose branches share the visible cases read once. Access is decided
once per report (in SQL with ``visible_conversations``, else by the access hook
before the statement). Times are UTC and a day is a UTC calendar day, whatever
the host's, the database session's or the viewer's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from ..enums import WORKING, CaseType, Priority, Status
from ..errors import CaseError
from ..hooks import HostHooks, is_signed_in, unwrap_user
from ..i18n import gettext as _
from ..models import Models, as_utc, utcnow
from .base import Service
from .cases import CaseService
from .due import overdue_clause

#: How many UTC calendar days the created/resolved chart and the medians cover, today included.
REPORT_DAYS = 30


@dataclass(frozen=True)
class Count:
    """One bar of a breakdown: a status, type or priority and how many open cases have it."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Day:
    """One UTC calendar day: cases created on it, and cases resolved on it (and still resolved)."""

    day: date
    created: int
    resolved: int


@dataclass(frozen=True)
class ResolveTime:
    """The median time from creation to resolution of one priority's cases, None without any."""

    key: str
    label: str
    seconds: float | None
    cases: int


@dataclass(frozen=True)
class Report:
    """Everything the reports page shows, as of ``now`` (UTC)."""

    now: datetime
    #: Midnight UTC of the first day of :attr:`days`; the medians cover the same window.
    since: datetime
    by_status: list[Count]
    by_type: list[Count]
    by_priority: list[Count]
    days: list[Day]
    resolve_times: list[ResolveTime]
    overdue: int

    @property
    def open_total(self) -> int:
        """Cases being worked: open and pending."""
        return sum(c.count for c in self.by_status)

    @property
    def created_total(self) -> int:
        return sum(d.created for d in self.days)

    @property
    def resolved_total(self) -> int:
        return sum(d.resolved for d in self.days)


class ReportService(Service):
    """Builds a :class:`Report` for one agent, from the cases they may see."""

    def __init__(self, db: Any, models: Models, hooks: HostHooks, cases: CaseService) -> None:
        super().__init__(db, models)
        self.hooks = hooks
        self.cases = cases

    def report(self, user: Any, now: datetime | None = None) -> Report:
        """The figures for ``user`` as of ``now`` (default: this moment), in one SQL statement.

        Without ``visible_conversations`` the access hook first decides which
        conversations count (:meth:`CaseService.visible`).
        """
        user = unwrap_user(user)
        if not is_signed_in(user):
            raise CaseError(_("Sign in to work with cases."), kind="forbidden")
        now = (as_utc(now) or utcnow()).astimezone(UTC)
        first_day = now.date() - timedelta(days=REPORT_DAYS - 1)
        since = datetime.combine(first_day, time(0), tzinfo=UTC)
        found = self._figures(user, since, now)

        def count(figure: str, key: str) -> int:
            return found.get((figure, key), (0, None))[0]

        def counts(figure: str, members: Any) -> list[Count]:
            return [Count(m.value, m.label, count(figure, m.value)) for m in members]

        days = [first_day + timedelta(days=n) for n in range(REPORT_DAYS)]
        return Report(
            now=now,
            since=since,
            by_status=counts("status", [s for s in Status if s in WORKING]),
            by_type=counts("type", CaseType),
            by_priority=counts("priority", Priority),
            days=[Day(d, count("created", d.isoformat()), count("resolved", d.isoformat())) for d in days],
            resolve_times=[ResolveTime(p.value, p.label, found.get(("median", p.value), (0, None))[1],
                                       count("median", p.value)) for p in Priority],
            overdue=count("overdue", ""),
        )

    # -- the statement --------------------------------------------------------

    def _figures(self, user: Any, since: datetime, now: datetime) -> dict[tuple[str, str], tuple[int, float | None]]:
        """Every figure as ``(figure, key) -> (count, median seconds)``, from one ``UNION ALL``.

        The visible cases that can count (being worked, or created or resolved
        in the window) are read once into a common table expression; each
        branch counts one breakdown over it:

        * ``status`` / ``type`` / ``priority``: open and pending cases by each;
        * ``overdue``: the open and pending ones past due (:func:`due.overdue_clause`);
        * ``created`` / ``resolved``: cases by the UTC day (``YYYY-MM-DD``) they
          were created, and resolved (if they still are), in the window;
        * ``median``: per priority, cases resolved in the window and the median
          seconds from creation to resolution.
        """
        Case = self.models.Case
        postgres = self._dialect == "postgresql"
        working = [s.value for s in WORKING]
        rows = self.cases.visible(sa.select(Case.id), user).with_only_columns(
            Case.id, Case.status, Case.case_type, Case.priority, Case.created_at, Case.resolved_at, Case.due_at,
            Case.pending_since,
        ).where(sa.or_(Case.status.in_(working), Case.created_at >= since, Case.resolved_at >= since))
        v = rows.cte("visible_cases")
        if postgres:  # read once, however many branches use it (PostgreSQL 12+ would inline a plain one)
            v = v.prefix_with("MATERIALIZED", dialect="postgresql")
        c = v.c
        no_seconds = sa.cast(sa.null(), sa.Float)

        def branch(figure: str, key: Any, where: Any, *, n: Any = None, seconds: Any = no_seconds,
                   source: Any = v, group: Any = None) -> Any:
            stmt = sa.select(
                sa.literal_column(f"'{figure}'", sa.String).label("figure"), key.label("key"),
                (sa.func.count() if n is None else n).label("n"), seconds.label("seconds"),
            ).select_from(source).where(where)
            return stmt if key is _NO_KEY else stmt.group_by(key if group is None else group)

        def by_day(figure: str, column: Any, where: Any) -> Any:
            """Counts per UTC calendar day of ``column``, keyed ``YYYY-MM-DD`` (no bound values: it is grouped by)."""
            if not postgres:
                return branch(figure, sa.func.date(column), where)  # SQLite keeps our times as UTC text
            day = sa.cast(sa.func.timezone(sa.literal_column("'UTC'"), column), sa.Date)
            return branch(figure, sa.func.to_char(day, sa.literal_column("'YYYY-MM-DD'")), where, group=day)

        in_work = c.status.in_(working)
        resolved = sa.and_(c.status == Status.RESOLVED.value, c.resolved_at >= since, c.resolved_at <= now)
        branches = [
            branch("status", c.status, in_work),
            branch("type", c.case_type, in_work),
            branch("priority", c.priority, in_work),
            branch("overdue", _NO_KEY, overdue_clause(c, now)),
            by_day("created", c.created_at, sa.and_(c.created_at >= since, c.created_at <= now)),
            by_day("resolved", c.resolved_at, resolved),
            self._median_branch(branch, c, v, resolved, postgres),
        ]
        return {
            (figure, str(key)): (int(n or 0), None if seconds is None else float(seconds))
            for figure, key, n, seconds in self.session.execute(sa.union_all(*branches))
        }

    @staticmethod
    def _median_branch(branch: Any, c: Any, v: Any, resolved: Any, postgres: bool) -> Any:
        """Per priority: how many cases were resolved in the window, and the median time they took.

        PostgreSQL has ``percentile_cont(0.5) WITHIN GROUP``. SQLite numbers each
        priority's cases by duration and averages the middle one (odd count) or
        two (even count): the rows where ``2 * row_number`` is ``n``, ``n + 1`` or
        ``n + 2``, the same value ``percentile_cont`` gives.
        """
        seconds: Any
        if postgres:
            seconds = sa.cast(sa.extract("epoch", c.resolved_at - c.created_at), sa.Float)
            return branch("median", c.priority, resolved,
                          seconds=sa.func.percentile_cont(0.5).within_group(seconds))
        seconds = (sa.func.julianday(c.resolved_at) - sa.func.julianday(c.created_at)) * 86400.0
        ranked = sa.select(
            c.priority.label("priority"),
            seconds.label("seconds"),
            sa.func.row_number().over(partition_by=c.priority, order_by=(seconds, c.id)).label("rn"),
            sa.func.count().over(partition_by=c.priority).label("n"),
        ).select_from(v).where(resolved).subquery("ranked")
        r = ranked.c
        return branch("median", r.priority, sa.and_(r.rn * 2 >= r.n, r.rn * 2 <= r.n + 2),
                      n=sa.func.max(r.n), seconds=sa.func.avg(r.seconds), source=ranked)

    @property
    def _dialect(self) -> str:
        return str(self.session.get_bind(self.models.Case).dialect.name)


#: The key of a figure that is one number (overdue): a constant, not grouped by.
_NO_KEY = sa.literal_column("''", sa.String)
