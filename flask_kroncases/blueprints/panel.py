"""HTML side of the agent UI: the case form POST and page fragments.

The cases page (``case_list.py``) and the case page (``case_page.py``) hang
their routes on this blueprint too.

Mounted at ``KRONCASES_URL_PREFIX``. Every route needs a signed-in user; the
service decides access, and a conversation the agent may not see answers 404
like one that does not exist. The case form is a Flask-WTF form: its CSRF
token is checked whether or not the host enabled ``CSRFProtect``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, redirect, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from ..errors import CaseError
from ..forms import CaseForm
from ..hooks import unwrap_user
from ..i18n import gettext as _
from ..services.serialization import describe_case
from . import (
    ANY_METHOD,
    ERROR_STATUSES,
    error_message,
    error_page,
    html_safe_json,
    http_error_message,
    limit_body,
    protect_csrf,
    refuse_unrouted,
    render,
)

panel = Blueprint("kroncases_panel", __name__)
panel.after_request(html_safe_json)

#: Case form fields the service may name in its errors; "messages" has no field.
_FORM_FIELDS = ("title", "case_type", "priority", "summary")


def _state() -> Any:
    return current_app.extensions["kroncases"]


def _helpers() -> Any:
    return current_app.jinja_env.globals["kroncases"]


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _error(status: int, kind: str, message: str, errors: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    if _wants_json() or request.endpoint == "kroncases_panel.fragments":
        return jsonify(error=kind, message=message, errors=errors or {}), status
    return error_page(status, message)


@panel.before_request
def _require_user() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        if _wants_json() or request.method != "GET":
            return _error(401, "unauthorized", error_message(401))
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined, no-any-return]
    limit_body()
    protect_csrf()
    return None


@panel.errorhandler(CaseError)
def _case_error(exc: CaseError) -> ResponseReturnValue:
    return _error(exc.http_status, exc.kind, exc.message, exc.errors)


@panel.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return _error(400, "csrf", _("The form expired or lacks its security token (%(reason)s) "
                                 "Reload the page and try again.", reason=exc.description))


@panel.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    return _error(413, "too_large", error_message(413))


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """A refusal (400, 401, 403, 404, 405) as a page in the layout, or JSON to the script.

    Server errors are left to the host's handlers.
    """
    status = exc.code or 400
    message = http_error_message(exc) or error_message(status)
    response = make_response(_error(status, (exc.name or "error").lower().replace(" ", "_"), message))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


for _code in ERROR_STATUSES:
    panel.register_error_handler(_code, _http_error)




def no_such_page(rest: str = "") -> ResponseReturnValue:
    """A wrong URL under the prefix: 405 where another method fits, else 404, as pages in the layout.

    Without it Werkzeug's bare page would answer, outside the host's frame
    (routing errors never reach a blueprint's error handlers).
    """
    refuse_unrouted()


@panel.record
def _catch_wrong_urls(state: BlueprintSetupState) -> None:
    """Answer wrong URLs under a non-empty prefix; at the site's root they stay the host's."""
    if (state.url_prefix or "").strip("/"):
        state.add_url_rule("/", "no_such_page", no_such_page, methods=ANY_METHOD)
        state.add_url_rule("/<path:rest>", "no_such_page", no_such_page, methods=ANY_METHOD)


def fragments_for(conversation: Any) -> dict[str, Any]:
    """What the script swaps in after a change: panel, indicators, activity, badges."""
    helpers = _helpers()
    service = _state().service
    cases = service.for_conversation(conversation)
    messages = {
        str(message_id): {"case_id": case.id, "indicator": str(helpers.indicator_for(case, str(message_id)))}
        for case in cases
        for message_id in case.message_ids
    }
    return {
        "panel": render("panel", **helpers.panel_context(conversation, cases)),
        "messages": messages,
        "activity": [
            {"id": entry.id, "html": str(helpers.activity_entry(entry))}
            for entry in service.activity_for(conversation)
        ],
        "badges": str(helpers.badges(conversation)),
        "count": len(cases),
    }


@panel.get("/conversations/<conversation_key>/fragments")
def fragments(conversation_key: str) -> ResponseReturnValue:
    """The conversation's case parts as HTML, so actions update the page without a reload."""
    return jsonify(fragments_for(_state().service.conversation(conversation_key, by=current_user)))


@panel.post("/conversations/<conversation_key>/case-form")
def create_case(conversation_key: str) -> ResponseReturnValue:
    """Create a case from the case form; JSON for the script, HTML without it."""
    service = _state().service
    # Access first, so a refused form tells nothing; create_case's own check is answered from memory.
    conversation = service.conversation(conversation_key, by=current_user)
    form = CaseForm()
    as_json = _wants_json()
    if form.validate_on_submit():
        try:
            case = service.create_case(
                conversation,
                form.selected_message_ids(),
                title=form.title.data,
                case_type=form.case_type.data,
                priority=form.priority.data,
                summary=form.summary.data or None,
                by=unwrap_user(current_user),
            )
        except CaseError as exc:
            return _form_refused(form, conversation, exc.http_status, exc.kind, exc.message, exc.errors, as_json)
        url = _state().hooks.url_for_conversation(conversation)
        if as_json:
            return jsonify(case=describe_case(case, conversation_url=url), fragments=fragments_for(conversation)), 201
        return redirect(url or _helpers().cases_url(), 303)

    # A missing or stale CSRF token never gets here: the blueprint's guard refused it already.
    # str(): the validators' messages are lazy strings, looked up now in the agent's language.
    errors = {name: [str(message) for message in messages] for name, messages in form.errors.items()}
    if "message_ids" in errors:
        errors["messages"] = errors.pop("message_ids")
    return _form_refused(form, conversation, 400, "invalid", _("Check the highlighted fields."), errors, as_json)


def _form_refused(
    form: CaseForm,
    conversation: Any,
    status: int,
    kind: str,
    message: str,
    errors: dict[str, list[str]],
    as_json: bool,
) -> ResponseReturnValue:
    """Show the refusal next to its fields; what the agent typed stays in the form."""
    if as_json:
        return jsonify(error=kind, message=message, errors=errors), status
    for name in _FORM_FIELDS:
        if name in errors:
            getattr(form, name).errors = list(errors[name])
    return render(
        "case_form_page",
        form=form,
        conversation=conversation,
        message=message,
        general_errors=errors.get("messages", []),
    ), status
