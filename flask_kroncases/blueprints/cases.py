"""The JSON API for cases: the same operations as the service, for the UI script.

Every route needs a signed-in user (401 otherwise) and every change a valid
CSRF token (Flask-WTF: the ``X-CSRFToken`` header). Access is the service's
to decide: what the agent may not see answers 404 exactly like what does not
exist. Every answer under the prefix is JSON, also an unknown route (404), a
wrong method (405) or a body that is too large (413): ``{"error", "message",
"errors"}``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..errors import CaseError
from ..hooks import unwrap_user
from ..i18n import gettext as _
from ..services.serialization import describe_case, describe_note, describe_suggestion
from . import ANY_METHOD, error_message, html_safe_json, http_error_message, limit_body, protect_csrf, refuse_unrouted

api = Blueprint("kroncases_api", __name__)
api.after_request(html_safe_json)



def _state() -> Any:
    return current_app.extensions["kroncases"]


def _json_error(
    status: int, kind: str, message: str, errors: dict[str, list[str]] | None = None
) -> ResponseReturnValue:
    return jsonify(error=kind, message=message, errors=errors or {}), status


@api.before_request
def _guard() -> ResponseReturnValue | None:
    if request.endpoint == "kroncases_api.no_such_route":
        return None  # unknown URLs answer 404/405 whoever asks
    if not current_user.is_authenticated:
        return _json_error(401, "unauthorized", error_message(401))
    limit_body()
    protect_csrf()
    return None


@api.errorhandler(CaseError)
def _case_error(exc: CaseError) -> ResponseReturnValue:
    return jsonify(exc.to_dict()), exc.http_status


@api.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return _json_error(400, "csrf", _("%(reason)s Reload the page and try again.", reason=exc.description))


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    kinds = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
    code = exc.code or 500
    # Our own words (abort's, or ours for the status) rather than Werkzeug's English stock text.
    message = http_error_message(exc) or error_message(code)
    response = jsonify(error=kinds.get(code, "invalid"), message=message, errors={})
    headers = {"Allow": ", ".join(exc.valid_methods)} if isinstance(exc, MethodNotAllowed) and exc.valid_methods else {}
    return response, code, headers


@api.errorhandler(OperationalError)
@api.errorhandler(InterfaceError)
def _database_unavailable(exc: Exception) -> ResponseReturnValue:
    """A dropped or refused database connection: nothing was written, try again."""
    _state().db.session.rollback()
    response = jsonify(error="unavailable",
                       message=_("The database is not answering; nothing was saved. Try again."), errors={})
    return response, 503, {"Retry-After": "2"}


def _body() -> dict[str, Any]:
    """The request's JSON object; anything else (bad JSON, too deep, not an object) is a 400."""
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise CaseError(_("Send a JSON object as the request body."))
    return data


def _id_list(data: dict[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    return value if isinstance(value, list) else []


def _describe(case: Any) -> dict[str, Any]:
    state = _state()
    pages_on = "kroncases_panel" in current_app.blueprints
    case_url = url_for("kroncases_panel.case_page", case_id=case.id) if pages_on else None
    return describe_case(case, conversation_url=state.hooks.url_for_conversation(case.conversation),
                         case_url=case_url, name_of=state.hooks.display_name)


@api.post("/conversations/<conversation_key>/cases")
def create_case(conversation_key: str) -> ResponseReturnValue:
    data = _body()
    case = _state().service.create_case(
        conversation_key,
        _id_list(data, "message_ids"),
        title=data.get("title"),
        case_type=data.get("case_type", "general"),
        priority=data.get("priority", "medium"),
        summary=data.get("summary"),
        by=current_user,
    )
    return jsonify(case=_describe(case)), 201


@api.get("/conversations/<conversation_key>/cases")
def list_cases(conversation_key: str) -> ResponseReturnValue:
    service = _state().service
    cases = service.for_conversation(service.conversation(conversation_key, by=current_user))
    return jsonify(cases=[_describe(case) for case in cases])


@api.get("/cases/<case_id>")
def get_case(case_id: str) -> ResponseReturnValue:
    return jsonify(case=_describe(_state().service.get_case(case_id, by=current_user)))


@api.post("/cases/<case_id>/status")
def set_status(case_id: str) -> ResponseReturnValue:
    case = _state().service.set_status(case_id, _body().get("status"), by=current_user)
    return jsonify(case=_describe(case))


@api.post("/cases/<case_id>/resolve")
def resolve(case_id: str) -> ResponseReturnValue:
    return jsonify(case=_describe(_state().service.resolve(case_id, by=current_user)))


@api.post("/cases/<case_id>/reopen")
def reopen(case_id: str) -> ResponseReturnValue:
    return jsonify(case=_describe(_state().service.reopen(case_id, by=current_user)))


@api.post("/cases/<case_id>/escalate")
def escalate(case_id: str) -> ResponseReturnValue:
    case = _state().service.escalate(case_id, by=current_user, reason=_body().get("reason"))
    return jsonify(case=_describe(case))


@api.post("/cases/<case_id>/assign")
def assign(case_id: str) -> ResponseReturnValue:
    """``{"assignee": <user key> | "me" | null}``: give the case an owner, or none."""
    data = _body()
    if "assignee" not in data:
        raise CaseError(_("Say who owns the case: a user id, \"me\" or null."),
                        errors={"assignee": [_("Choose an agent.")]})
    assignee = data["assignee"]
    if assignee == "me":
        assignee = unwrap_user(current_user)
    return jsonify(case=_describe(_state().service.assign(case_id, assignee, by=current_user)))


@api.patch("/cases/<case_id>")
def update(case_id: str) -> ResponseReturnValue:
    """Change any of ``title``, ``case_type`` and ``priority``."""
    data = _body()
    case = _state().service.update(case_id, by=current_user, title=data.get("title"),
                                   case_type=data.get("case_type"), priority=data.get("priority"))
    return jsonify(case=_describe(case))


@api.post("/cases/<case_id>/messages")
def add_messages(case_id: str) -> ResponseReturnValue:
    case = _state().service.add_messages(case_id, _id_list(_body(), "message_ids"), by=current_user)
    return jsonify(case=_describe(case))


@api.get("/cases/<case_id>/notes")
def list_notes(case_id: str) -> ResponseReturnValue:
    state = _state()
    case = state.service.get_case(case_id, by=current_user)
    return jsonify(notes=[describe_note(note, name_of=state.hooks.display_name) for note in case.notes])


@api.post("/cases/<case_id>/notes")
def add_note(case_id: str) -> ResponseReturnValue:
    state = _state()
    note = state.service.add_note(case_id, _body().get("text"), by=current_user)
    return jsonify(note=describe_note(note, name_of=state.hooks.display_name)), 201


@api.get("/cases/overdue")
def overdue() -> ResponseReturnValue:
    """The overdue cases the agent may see, most overdue first, a page at a time (``?page=``)."""
    state = _state()
    raw = request.args.get("page", "1").strip()
    # ASCII digits only, and few enough that the offset fits the database's integers; else page 1.
    page = max(1, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 1
    per_page = int(current_app.config["KRONCASES_PER_PAGE"])
    result = state.db.paginate(state.service.overdue(by=unwrap_user(current_user)), page=page,
                               per_page=per_page, error_out=False)
    return jsonify(cases=[_describe(case) for case in result.items], page=page, per_page=per_page,
                   total=result.total)


@api.post("/cases/<case_id>/summary")
def regenerate_summary(case_id: str) -> ResponseReturnValue:
    """Regenerate summary: a job replaces it; the answer is the case as it is now."""
    case = _state().summaries.regenerate(case_id, by=current_user)
    return jsonify(case=_describe(case)), 202


@api.post("/conversations/<conversation_key>/suggestions")
def request_suggestion(conversation_key: str) -> ResponseReturnValue:
    """Start a title and summary suggestion for the selected messages (the form polls it)."""
    row = _state().summaries.request_suggestion(
        conversation_key, _id_list(_body(), "message_ids"), by=current_user
    )
    return jsonify(suggestion=describe_suggestion(row)), 202


@api.get("/suggestions/<suggestion_id>")
def get_suggestion(suggestion_id: str) -> ResponseReturnValue:
    row = _state().summaries.get_suggestion(suggestion_id, by=current_user)
    return jsonify(suggestion=describe_suggestion(row))


@api.route("/", defaults={"rest": ""}, methods=ANY_METHOD)
@api.route("/<path:rest>", methods=ANY_METHOD)
def no_such_route(rest: str) -> ResponseReturnValue:
    """Under the API prefix even a wrong URL or method answers JSON: 405 where another method fits, else 404."""
    refuse_unrouted(_("There is no such API route."))
