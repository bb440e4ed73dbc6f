"""The case page, ``/kroncases/cases/<id>``: everything about one case, and every action on it.

Its routes hang on the pages blueprint (``kroncases_panel``): the same
signed-in guard, CSRF check and error pages. Access is the service's to decide.
"""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_login import current_user

from . import render
from .panel import _state, panel


@panel.get("/cases/<case_id>")
def case_page(case_id: str) -> ResponseReturnValue:
    case = _state().service.get_case(case_id, by=current_user)
    return render("case_page", case=case)
