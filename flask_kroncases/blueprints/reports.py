"""The reports page, ``/kroncases/reports``: what is open, what came in and went out, how long it took.

Its route hangs on the pages blueprint (``kroncases_panel``): the same signed-in
guard and error pages. The report service counts, in SQL, only what the agent
may see; this module only scales the figures into the page's inline SVG charts.
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..i18n import gettext as _
from . import render
from .panel import _state, panel


def nice_ceiling(value: float) -> int:
    """The top of a chart's axis for ``value``: 1, 2 or 5 times a power of ten, at least 1 and ≥ value."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= value:
                return step * power
        power *= 10


def ticks(maximum: float) -> list[int]:
    """Gridline values from 0 to ``nice_ceiling(maximum)`` in whole, evenly spaced steps (at most six)."""
    top = nice_ceiling(maximum)
    parts = next(n for n in ((4,) if str(top)[0] == "2" else (5,)) + (2, 1) if top % n == 0)
    step = top // parts
    return list(range(0, top + 1, step))


def duration(seconds: float | None) -> str:
    """A time to resolve in words an agent reads at a glance: ``45 min``, ``3 h 20 min``, ``2 d 4 h``.

    Unit abbreviations do not change with the number in English; each pattern
    is a whole message, so a language that abbreviates otherwise can.
    """
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return _("under 1 min")
    if minutes < 60:
        return _("%(minutes)d min", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(hours)d h %(minutes)d min", hours=hours, minutes=minutes) if minutes else _(
            "%(hours)d h", hours=hours)
    days, hours = divmod(hours, 24)
    return _("%(days)d d %(hours)d h", days=days, hours=hours) if hours else _("%(days)d d", days=days)


@panel.get("/reports")
def reports() -> ResponseReturnValue:
    """Open cases by status, type and priority; created vs resolved per day; medians; overdue now."""
    report = _state().reports.report(current_user)
    return render("reports_page", report=report, ticks=ticks, nice_ceiling=nice_ceiling, duration=duration)
