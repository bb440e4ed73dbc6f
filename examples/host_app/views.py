"""The helpdesk's pages: sign in and out, the inbox, a conversation and its reply box."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length

from .models import Conversation, Message, User, db

bp = Blueprint("helpdesk", __name__)

STATUSES = ("open", "pending", "resolved")


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in")


#: The languages the demo offers (the extension ships these catalogs) and a few time zones.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español"), ("fr", "Français")]
TIMEZONES = [
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Madrid", "Europe/Paris",
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Mexico_City",
    "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney",
]


def _choices(pairs: list[tuple[str, str]]) -> list[Any]:
    """WTForms 3.3 wants ``SelectChoice`` objects, older ones tuples."""
    try:
        from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return pairs
    return [SelectChoice(value, label) for value, label in pairs]


class PreferencesForm(FlaskForm):
    locale = SelectField("Language", choices=_choices(LANGUAGES), validators=[AnyOf([code for code, _ in LANGUAGES])])
    timezone = SelectField("Time zone", choices=_choices([(z, z.replace("_", " ")) for z in TIMEZONES]),
                           validators=[AnyOf(TIMEZONES)])


class ReplyForm(FlaskForm):
    body = TextAreaField("Reply", validators=[DataRequired(), Length(max=10_000)])


def _safe_next(target: str | None) -> str | None:
    """Only follow a ``next`` that stays on this site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _visible_conversations(status: str | None) -> list[Conversation]:
    """The inbox of the signed-in agent: their team's conversations, most recent first."""
    last_message_at = (
        sa.select(sa.func.max(Message.created_at))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    query = (
        sa.select(Conversation)
        .options(selectinload(Conversation.messages))
        .order_by(last_message_at.desc(), Conversation.id.desc())
    )
    if not current_user.is_admin:
        query = query.where(Conversation.team == current_user.team)
    if status in STATUSES:
        query = query.where(Conversation.status == status)
    return list(db.session.scalars(query))


def _conversation_or_404(conversation_id: int) -> Conversation:
    """404, not 403, for another team's conversation: agents don't learn what exists."""
    conversation = db.get_or_404(Conversation, conversation_id)
    if not current_user.can_see(conversation):
        abort(404)
    return conversation


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("helpdesk.inbox"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.email == form.email.data.strip().lower()))
        if user is not None and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or url_for("helpdesk.inbox"))
        flash("Wrong email or password.", "error")
    return render_template("login.html", form=form)


@bp.post("/preferences")
@login_required
def preferences() -> ResponseReturnValue:
    """The signed-in agent's language and time zone (Flask-Babel's selectors read them)."""
    form = PreferencesForm()
    if form.validate_on_submit():
        current_user.locale = form.locale.data
        current_user.timezone = form.timezone.data
        db.session.commit()
    else:
        flash("Pick a language and a time zone from the lists.", "error")
    return redirect(_safe_next(request.form.get("next")) or url_for("helpdesk.inbox"))


@bp.app_context_processor
def preference_form() -> dict[str, object]:
    def form_for(user: User) -> PreferencesForm:
        return PreferencesForm(locale=user.locale, timezone=user.timezone, formdata=None)

    return {"preferences_form": form_for}


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("helpdesk.login"))


@bp.get("/")
@login_required
def inbox() -> ResponseReturnValue:
    status = request.args.get("status")
    return render_template(
        "inbox.html", conversations=_visible_conversations(status), status=status, conversation=None
    )


@bp.get("/conversations/<int:conversation_id>")
@login_required
def conversation(conversation_id: int) -> ResponseReturnValue:
    found = _conversation_or_404(conversation_id)
    status = request.args.get("status")
    return render_template(
        "inbox.html",
        conversations=_visible_conversations(status),
        status=status,
        conversation=found,
        form=ReplyForm(),
    )


@bp.post("/conversations/<int:conversation_id>/reply")
@login_required
def reply(conversation_id: int) -> ResponseReturnValue:
    found = _conversation_or_404(conversation_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        flash("Write a reply before sending.", "error")
        return redirect(url_for("helpdesk.conversation", conversation_id=found.id))
    message = Message(
        conversation=found, author_role="agent", author_name=current_user.name, body=form.body.data.strip()
    )
    db.session.add(message)
    db.session.commit()
    return redirect(url_for("helpdesk.conversation", conversation_id=found.id, _anchor=f"message-{message.id}"))


def _as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; we always store UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@bp.app_template_filter("iso")
def iso(value: datetime) -> str:
    return _as_utc(value).isoformat()


@bp.app_template_filter("when")
def when(value: datetime) -> str:
    """A time as the extension shows its own (relative when recent), so the page reads one way."""
    from flask_kroncases.i18n import format_moment

    return format_moment(_as_utc(value))[0]
