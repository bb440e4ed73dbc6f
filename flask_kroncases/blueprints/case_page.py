"""The case page, ``/kroncases/cases/<id>``: everything about one case, and every action on it.

Its routes hang on the pages blueprint (``kroncases_panel``): the same
signed-in guard, body limit, CSRF check and error pages. Access is the
service's to decide: a case the agent may not see is a 404 like a missing one.

Every action is a plain HTML form: a POST that calls one service method, then
redirects back to the page with a flash message (Post/Redirect/Get). A refusal
renders the page again with the message next to the field, what the agent
typed kept, and the refusal's status (400 or 409).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from ..enums import OPENING_MESSAGE, Status
from ..errors import CaseError
from ..forms import ActionForm, AssignForm, CaseFieldsForm, EscalateForm, NoteForm, StatusForm
from ..hooks import unwrap_user
from ..i18n import N_
from ..i18n import gettext as _
from ..models import host_time, utcnow
from ..services import due
from . import render
from .panel import _helpers, _state, panel

#: What each status button says when it worked: whole sentences, looked up when flashed.
_MOVED = {
    "pending": N_("Case #%(id)s was marked pending."),
    "open": N_("Case #%(id)s was marked open."),
    "reopen": N_("Case #%(id)s was reopened."),
    "resolve": N_("Case #%(id)s was resolved."),
}


@dataclass(frozen=True)
class Quote:
    """One message of the case as the page quotes it, with its link back into the conversation."""

    key: str
    text: str
    author_role: str
    #: In UTC: the page shows it in the agent's zone (``kroncases.time``).
    sent_at: datetime | None
    url: str | None


@dataclass
class Refusal:
    """A refused action: which form (with what the agent sent), why, and the reply's status."""

    name: str
    form: FlaskForm
    message: str
    status: int


@panel.get("/cases/<case_id>")
def case_page(case_id: str) -> ResponseReturnValue:
    """The case: its facts, summary, messages, notes and activity, and a form for every action."""
    return _show(case_id)


@panel.post("/cases/<case_id>/assign")
def assign_case(case_id: str) -> ResponseReturnValue:
    """``assignee``: ``"me"``, a user key, or ``""`` to leave the case without an owner."""

    def act(form: AssignForm) -> str:
        if not form.assignee.raw_data:
            raise CaseError(_("Choose an agent."), errors={"assignee": [_("Choose an agent.")]})
        wanted: Any = form.assignee.data or None
        if wanted == "me":
            wanted = unwrap_user(current_user)
        case = _state().service.assign(case_id, wanted, by=current_user)
        owner = case.assignee
        if owner is None:
            return _("Case #%(id)s has no owner now.", id=case.id)
        return _("Case #%(id)s is assigned to %(name)s.", id=case.id, name=_state().hooks.display_name(owner))

    return _act(case_id, "assign", AssignForm(), act)


@panel.post("/cases/<case_id>/update")
def update_case(case_id: str) -> ResponseReturnValue:
    """Change the title, type and priority; the fields left as they were stay unchanged."""

    def act(form: CaseFieldsForm) -> str:
        case = _state().service.update(
            case_id, by=current_user,
            title=form.title.data or "", case_type=form.case_type.data or "", priority=form.priority.data or "",
        )
        return _("Case #%(id)s was updated.", id=case.id)

    return _act(case_id, "fields", CaseFieldsForm(), act)


@panel.post("/cases/<case_id>/status")
def move_case(case_id: str) -> ResponseReturnValue:
    """``status``: one of the moves ``CaseService.actions`` offers (``pending``, ``open``, ``reopen``, ``resolve``)."""

    def act(form: StatusForm) -> str:
        service = _state().service
        wanted = form.status.data or ""
        if wanted == "reopen":
            case = service.reopen(case_id, by=current_user)
        else:
            target = Status.RESOLVED.value if wanted == "resolve" else wanted
            case = service.set_status(case_id, target, by=current_user)
        return _(_MOVED.get(wanted, N_("Case #%(id)s was moved.")), id=case.id)

    return _act(case_id, "status", StatusForm(), act)


@panel.post("/cases/<case_id>/escalate")
def escalate_case(case_id: str) -> ResponseReturnValue:
    def act(form: EscalateForm) -> str:
        case = _state().service.escalate(case_id, by=current_user, reason=form.reason.data or "")
        return _("Case #%(id)s was escalated (level %(level)s).", id=case.id, level=case.escalation_level)

    return _act(case_id, "escalate", EscalateForm(), act)


@panel.post("/cases/<case_id>/summary")
def regenerate_summary(case_id: str) -> ResponseReturnValue:
    """A job writes the new summary; the page shows it once it is there."""

    def act(form: ActionForm) -> str:
        case = _state().summaries.regenerate(case_id, by=current_user)
        return _("A new summary of Case #%(id)s is being written; reload the page in a moment to read it.",
                 id=case.id)

    return _act(case_id, "summary", ActionForm(), act)


@panel.post("/cases/<case_id>/notes")
def add_note(case_id: str) -> ResponseReturnValue:
    def act(form: NoteForm) -> str:
        note = _state().service.add_note(case_id, form.note.data or "", by=current_user)
        return _("Your note was added to Case #%(id)s.", id=note.case_id)

    return _act(case_id, "note", NoteForm(), act)


def _act(case_id: str, name: str, form: Any, act: Callable[[Any], str]) -> ResponseReturnValue:
    """Run one action: flash and redirect on success; on a refusal, the page again with the reason.

    A case the agent may not see (or that does not exist) is raised on to the
    blueprint's error page, so the refusal is the same 404 either way.
    """
    try:
        if not form.validate_on_submit():  # the blueprint checked the CSRF token; nothing else can fail here
            raise CaseError(_("Check the highlighted fields."), errors=dict(form.errors))
        done = act(form)
    except CaseError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        for field, messages in exc.errors.items():
            if field in form:
                form[field].errors = list(messages)
        return _show(case_id, Refusal(name, form, exc.message, exc.http_status))
    flash(done, "success")
    return redirect(url_for("kroncases_panel.case_page", case_id=case_id), 303)


def _show(case_id: str, refusal: Refusal | None = None) -> ResponseReturnValue:
    state = _state()
    case = state.service.get_case(case_id, by=current_user)
    forms: dict[str, Any] = {
        "assign": AssignForm(formdata=None),
        "fields": CaseFieldsForm(formdata=None, obj=case),
        "status": StatusForm(formdata=None),
        "escalate": EscalateForm(formdata=None),
        "summary": ActionForm(formdata=None),
        "note": NoteForm(formdata=None),
    }
    if refusal is not None:
        forms[refusal.name] = refusal.form
    helpers = _helpers()
    host = state.models.host
    owners = [(str(host.user.key_of(user)), state.hooks.display_name(user))
              for user in state.service.assignable_users(case)]
    activity_tag = current_app.config["KRONCASES_ACTIVITY_TAG"]
    page = render(
        "case_page",
        case=case,
        forms=forms,
        refusal=refusal,
        actions=state.service.actions(case),
        owners=owners,
        owner_key=str(case.assignee_id) if case.assignee_id is not None else None,
        my_key=str(host.user.key_of(unwrap_user(current_user))),
        overdue=due.is_overdue(case, utcnow()),
        quotes=_quotes(case),
        notes=list(case.notes),
        activity=[helpers.activity_entry(entry) for entry in helpers.activity_entries(case.conversation)
                  if entry.case_id == case.id],
        activity_list="ol" if activity_tag == "li" else "div",
        display_name=state.hooks.shown_name,
        reason_max=current_app.config["KRONCASES_REASON_MAX_LENGTH"],
    )
    return page, refusal.status if refusal is not None else 200


def _quotes(case: Any) -> list[Quote]:
    """The case's messages as the host's ``message_reader`` reads them, oldest selection first.

    Each links to its place in the conversation the way the cases page links a
    case: the host's ``message_url`` hook, else the conversation's URL with
    ``#kc-message-<key>`` (which the script scrolls to and focuses).
    """
    state = _state()
    hooks, host = state.hooks, state.models.host
    zone = current_app.config["KRONCASES_HOST_TIMEZONE"]
    conversation_url = hooks.url_for_conversation(case.conversation)

    def link(key: str, message: Any) -> str | None:
        if message is not None and hooks.message_url is not None:
            found = hooks.message_url(message)
            if found:
                return str(found)
        return f"{conversation_url}#kc-message-{key}" if conversation_url else None

    quotes: list[Quote] = []
    if case.includes_opening:
        opening = hooks.read_opening(case.conversation)
        if opening is not None:
            quotes.append(Quote(OPENING_MESSAGE, opening.text, opening.author_role,
                                host_time(opening.sent_at, zone), link(OPENING_MESSAGE, None)))
    for message_link in case.message_links:
        message = message_link.message
        if message is None:  # the host deleted it
            continue
        read = hooks.read_message(message)
        key = str(host.message.key_of(message))
        quotes.append(Quote(key, read.text, read.author_role, host_time(read.sent_at, zone), link(key, message)))
    return quotes
