"""The cases page, ``/kroncases/cases``: every case an agent may see; bulk changes; CSV export.

Its routes hang on the pages blueprint (``kroncases_panel``): the same
signed-in guard, CSRF check and error pages. Each view reads the query string,
calls one method of :class:`~flask_kroncases.services.case_list.CaseListService`
and renders; that service decides what the agent may see and do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from flask import Response, current_app, redirect, request, session, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..models import utcnow
from ..services.case_list import BULK_LIMIT, BulkResult, CaseFilters, CaseListService
from . import render
from .panel import _state, panel

#: Where a bulk change leaves its per-case results for the page it redirects to (read once).
_RESULTS_KEY = "_kroncases_bulk_results"


def _case_list() -> CaseListService:
    state = _state()
    return CaseListService(state.db, state.models, state.hooks, state.service)


def _page_number(args: Any) -> int:
    try:
        return max(1, int(args.get("page", "1")))
    except (TypeError, ValueError):
        return 1


@panel.get("/cases")
def cases() -> ResponseReturnValue:
    """Every case the agent may see, across conversations: filter, sort, paginate, select."""
    filters = CaseFilters.from_args(request.args)
    result = _case_list().search(
        current_user, filters, page=_page_number(request.args), per_page=current_app.config["KRONCASES_PER_PAGE"]
    )
    results = [BulkResult(*row) for row in session.pop(_RESULTS_KEY)] if _RESULTS_KEY in session else []
    return render("cases_page", result=result, filters=filters, bulk_results=results, bulk_limit=BULK_LIMIT,
                  name_of=_state().hooks.display_name)


@panel.post("/cases/bulk")
def cases_bulk() -> ResponseReturnValue:
    """Change the selected cases one by one; back to the same filtered page with a result per case.

    The filters come in the form's URL, so the page the agent returns to is
    the one they left.
    """
    results = _case_list().bulk(current_user, request.form.getlist("case_ids"), request.form.get("action"))
    session[_RESULTS_KEY] = [[r.case_id, r.ok, r.text] for r in results]
    filters = CaseFilters.from_args(request.args)
    page = _page_number(request.args) if "page" in request.args else None
    target = url_for("kroncases_panel.cases", **filters.as_args(page=page))
    return redirect(target + "#kc-bulk-results", 303)


@panel.get("/cases/export.csv")
def cases_export() -> ResponseReturnValue:
    """The matching cases of every page as a CSV download, streamed as it is read."""
    case_url = _case_url_maker()
    rows = _case_list().export_csv(current_user, CaseFilters.from_args(request.args), case_url=case_url)
    response = Response(stream_with_context(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="support-cases-{utcnow():%Y-%m-%d}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _case_url_maker() -> Callable[[Any], str]:
    """Absolute case page URLs, worked out once per export (not once per row).

    Joined to ``KRONCASES_BASE_URL`` when it is set, as webhook bodies are;
    else to the host this request came to, the agent's own download.
    """
    marker = "0"
    base = current_app.config["KRONCASES_BASE_URL"]
    if base:
        path = url_for("kroncases_panel.case_page", case_id=marker)
        absolute = urljoin(base.rstrip("/") + "/", path.lstrip("/"))
    else:
        absolute = url_for("kroncases_panel.case_page", case_id=marker, _external=True)
    head = absolute[: -len(marker)]
    return lambda case_id: f"{head}{case_id}"
