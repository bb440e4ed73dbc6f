"""The JSON API for cases: the same operations as the service, for the UI script.

Every route needs a signed-in user (401 otherwise); every change needs the CSRF
token in the ``X-CSRFToken`` header; access is decided by the host's
``conversation_access`` hook. Refusals are JSON ``{"error", "message",
"errors"}`` with 400, 403, 404 or 409.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy.exc import InterfaceError, OperationalError
from wtforms import ValidationError

from ..errors import CaseError
from ..services.cases import describe_case, unwrap_user
from ..services.summaries import describe_suggestion

api = Blueprint("kroncases_api", __name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _state() -> Any:
    return current_app.extensions["kroncases"]


def _json_error(status: int, kind: str, message: str, errors: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    return jsonify(error=kind, message=message, errors=errors or {}), status


@api.before_request
def _require_user_and_csrf() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return _json_error(401, "unauthorized", "Sign in to work with cases.")
    if request.method in _SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    try:
        validate_csrf(token)
    except ValidationError as exc:
        return _json_error(400, "csrf", f"{exc.args[0] if exc.args else 'Bad CSRF token.'} Reload the page and try again.")
    return None


@api.errorhandler(CaseError)
def _case_error(exc: CaseError) -> ResponseReturnValue:
    return jsonify(exc.to_dict()), exc.http_status


@api.errorhandler(OperationalError)
@api.errorhandler(InterfaceError)
def _database_unavailable(exc: Exception) -> ResponseReturnValue:
    """A dropped or refused database connection: nothing was written, try again."""
    _state().db.session.rollback()
    response = jsonify(error="unavailable", message="The database is not answering; nothing was saved. Try again.",
                       errors={})
    return response, 503, {"Retry-After": "2"}


@api.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return _json_error(400, "csrf", f"{exc.description} Reload the page and try again.")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise CaseError("Send a JSON object as the request body.")
    return data


def _describe(case: Any) -> dict[str, Any]:
    extension = _state().extension
    return describe_case(case, conversation_url=extension.url_for_conversation(case.conversation))


@api.post("/conversations/<conversation_key>/cases")
def create_case(conversation_key: str) -> ResponseReturnValue:
    service = _state().service
    conversation = service.conversation(conversation_key)
    service.require_access(current_user, conversation)
    data = _body()
    message_ids = data.get("message_ids")
    case = service.create_case(
        conversation,
        message_ids if isinstance(message_ids, list) else [],
        title=data.get("title"),
        case_type=data.get("case_type", "general"),
        priority=data.get("priority", "medium"),
        summary=data.get("summary"),
        by=unwrap_user(current_user),
    )
    return jsonify(case=_describe(case)), 201


@api.get("/conversations/<conversation_key>/cases")
def list_cases(conversation_key: str) -> ResponseReturnValue:
    service = _state().service
    conversation = service.conversation(conversation_key)
    cases = service.for_conversation(conversation, by=current_user)
    return jsonify(cases=[_describe(case) for case in cases])


@api.get("/cases/<int:case_id>")
def get_case(case_id: int) -> ResponseReturnValue:
    case = _state().service.get_case(case_id, by=current_user)
    return jsonify(case=_describe(case))


@api.post("/cases/<int:case_id>/status")
def set_status(case_id: int) -> ResponseReturnValue:
    service = _state().service
    case = service.get_case(case_id, by=current_user)
    case = service.set_status(case, _body().get("status"), by=current_user)
    return jsonify(case=_describe(case))


@api.post("/cases/<int:case_id>/resolve")
def resolve(case_id: int) -> ResponseReturnValue:
    service = _state().service
    case = service.resolve(service.get_case(case_id, by=current_user), by=current_user)
    return jsonify(case=_describe(case))


@api.post("/cases/<int:case_id>/reopen")
def reopen(case_id: int) -> ResponseReturnValue:
    service = _state().service
    case = service.reopen(service.get_case(case_id, by=current_user), by=current_user)
    return jsonify(case=_describe(case))


@api.post("/cases/<int:case_id>/escalate")
def escalate(case_id: int) -> ResponseReturnValue:
    service = _state().service
    case = service.get_case(case_id, by=current_user)
    case = service.escalate(case, by=current_user, reason=_body().get("reason"))
    return jsonify(case=_describe(case))


@api.post("/cases/<int:case_id>/summary")
def regenerate_summary(case_id: int) -> ResponseReturnValue:
    """Regenerate summary: a job replaces it; the answer is the case as it is now."""
    case = _state().summaries.regenerate(case_id, by=current_user)
    return jsonify(case=_describe(case)), 202


@api.post("/conversations/<conversation_key>/suggestions")
def request_suggestion(conversation_key: str) -> ResponseReturnValue:
    """Start a title and summary suggestion for the selected messages (the form polls it)."""
    state = _state()
    conversation = state.service.conversation(conversation_key)
    state.service.require_access(current_user, conversation)
    message_ids = _body().get("message_ids")
    row = state.summaries.request_suggestion(
        conversation, message_ids if isinstance(message_ids, list) else [], by=current_user
    )
    return jsonify(suggestion=describe_suggestion(row)), 202


@api.get("/suggestions/<suggestion_id>")
def get_suggestion(suggestion_id: str) -> ResponseReturnValue:
    row = _state().summaries.get_suggestion(suggestion_id, by=current_user)
    return jsonify(suggestion=describe_suggestion(row))
