"""Flask-WTF forms: CSRF comes from the host's config (``SECRET_KEY``, ``WTF_CSRF_*``)."""

from __future__ import annotations

from typing import Any, cast

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
    widgets,
)
from wtforms.validators import DataRequired, Length

from .enums import DEFAULT_WEBHOOK_EVENTS, NOTE_MAX_LENGTH, TITLE_MAX_LENGTH, CaseType, Priority, label_of
from .enums import WEBHOOK_EVENTS as EVENTS
from .i18n import LazyString, lazy_gettext


def _l(text: str) -> str:
    """``lazy_gettext`` typed as the ``str`` WTForms takes: labels and messages are looked up when shown."""
    return cast(str, lazy_gettext(text))


class MultiCheckboxField(SelectMultipleField):
    """A set of checkboxes, one per choice."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _choices(pairs: list[tuple[str, str | LazyString]]) -> list[Any]:
    """Select choices; WTForms 3.3 wants ``SelectChoice`` objects, older ones tuples."""
    try:
        from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined,unused-ignore]  # stubs lag 3.3
    except ImportError:  # WTForms < 3.3
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


class _LazyLabel(LazyString):
    """A code's label (``label_of``), looked up when shown: the choices are made at import time."""

    __slots__ = ()

    def __str__(self) -> str:
        return label_of(self._string)


def _enum_choices(enum: type[CaseType] | type[Priority]) -> list[Any]:
    return _choices([(member.value, _LazyLabel(member.value)) for member in enum])


class WebhookEndpointForm(FlaskForm):
    """Settings → Integrations → Cases Webhook: one endpoint."""

    url = URLField(_l("Endpoint URL"), validators=[DataRequired(_l("Enter the endpoint URL.")), Length(max=2048)],
                   render_kw={"placeholder": "https://example.com/hooks/cases", "autocomplete": "off"})
    description = StringField(_l("Description"), validators=[Length(max=200)])
    events = MultiCheckboxField(
        _l("Events"), choices=_choices([(event, event) for event in EVENTS]), default=list(DEFAULT_WEBHOOK_EVENTS)
    )
    enabled = BooleanField(_l("Enabled"), default=True)


class ActionForm(FlaskForm):
    """A button that changes something: nothing but the CSRF token."""


class ConfirmForm(ActionForm):
    """A button whose change cannot be taken back (rotate a secret, delete an endpoint).

    Only a POST that says ``confirm=yes`` acts; any other asks first, on a page
    of its own, so a stray click, a resent form or a keyboard slip never acts
    without a second, deliberate press, and no script is needed for it.
    """

    #: No default: a POST without the field must not count as confirmed. The page renders it with ``value="yes"``.
    confirm = HiddenField()

    @property
    def confirmed(self) -> bool:
        return self.confirm.data == "yes"


# -- the case form (agent UI) ------------------------------------------------


def _strip(value: object) -> object:
    """Trim and collapse whitespace the way the service stores the title."""
    return " ".join(value.split()) if isinstance(value, str) else value


def _message_ids(value: object) -> list[str]:
    """Accept ``"3,4"`` from the hidden field; the service checks each key."""
    if not isinstance(value, str):
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


class CaseForm(FlaskForm):
    """Create a case from the selected messages.

    Field limits match the service's, so the form refuses what the service
    would; the service still has the last word (and its errors are shown on the
    same fields).
    """

    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Enter a title.")),
            Length(max=TITLE_MAX_LENGTH, message=_l("Shorten the title to %(max)d characters; it has %(length)d.")),
        ],
        filters=[_strip],
        # Said, not cut: no ``maxlength`` (WTForms would add one from ``Length``, and it truncates a
        # paste); the script reads the limit from ``data-kc-max`` and shows the count and the message.
        render_kw={"maxlength": False, "data-kc-max": TITLE_MAX_LENGTH, "autocomplete": "off"},
    )
    case_type = SelectField(
        _l("Case Type"), choices=_enum_choices(CaseType), default=CaseType.GENERAL.value
    )
    priority = SelectField(
        _l("Priority"), choices=_enum_choices(Priority), default=Priority.MEDIUM.value
    )
    summary = TextAreaField(_l("AI Summary"), filters=[lambda v: v.strip() if isinstance(v, str) else v])
    message_ids = HiddenField(_l("Messages"), validators=[DataRequired(_l("Select at least one message."))])

    def selected_message_ids(self) -> list[str]:
        return _message_ids(self.message_ids.data)


# -- the case page (agent UI) ---------------------------------------------------
#
# These forms parse and render; the case service validates (its refusals land
# on the fields of the same names), so they carry no validators of their own.


class AssignForm(FlaskForm):
    """Give the case an owner: ``"me"``, a user key, or ``""`` for nobody."""

    assignee = StringField(_l("Assign to"))


class CaseFieldsForm(FlaskForm):
    """Edit a case's title, type and priority."""

    # No maxlength: a longer title is refused with its count, never cut while typing or pasting.
    title = StringField(_l("Title"), render_kw={"data-kc-max": TITLE_MAX_LENGTH, "autocomplete": "off"})
    case_type = SelectField(_l("Case type"), choices=_enum_choices(CaseType), validate_choice=False)
    priority = SelectField(_l("Priority"), choices=_enum_choices(Priority), validate_choice=False)


class StatusForm(FlaskForm):
    """A status move; the button pressed names it (``pending``, ``open``, ``reopen``, ``resolve``)."""

    status = StringField(_l("Status"))


class EscalateForm(FlaskForm):
    """Escalate the case, with the agent's reason."""

    reason = TextAreaField(_l("Reason for escalating"))


class NoteForm(FlaskForm):
    """An internal note on the case (agents only; never in webhooks)."""

    note = TextAreaField(_l("New note"), render_kw={"maxlength": NOTE_MAX_LENGTH})
