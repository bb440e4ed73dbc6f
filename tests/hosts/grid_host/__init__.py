"""A small helpdesk styled the Bootstrap way, embedding the extension exactly as the README says.

Its conversation page is a Bootstrap-style grid: one ``<div class="row">`` per message with
``col-*`` children, the thread marked ``data-kc-thread``, edit/delete buttons at each message's
top right, and activity entries as ``<div>`` (``KRONCASES_ACTIVITY_TAG``). On every page
``static/bootstrapish.css`` — rules on bare ``header``, ``footer``, ``li``, ``code``, ``h2`` ...
and the ``.row`` grid — is loaded *after* the extension's stylesheet; ``?plain=1`` leaves it out,
so a test can compare the extension's computed styles with and without it.

Models and schema are ``tests.hosts.classic`` (integer keys, ``users``/``conversations``/``messages``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, redirect, render_template
from flask_login import LoginManager, login_required, login_user

from flask_kroncases import KronCases
from flask_kroncases.hooks import SummaryInput

from .. import classic

db = classic.db
Conversation, Message, User = classic.Conversation, classic.Message, classic.User


def create_app(database_url: str, **config: Any) -> tuple[Flask, KronCases]:
    app = Flask(__name__)
    app.config.update({
        "SECRET_KEY": "grid-host",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "KRONCASES_ACTIVITY_TAG": "div",  # the thread is a grid of <div>s, not a list
        "KRONCASES_JOB_RUNNER": "thread",
        **config,
    })
    db.init_app(app)
    login = LoginManager(app)

    @login.user_loader
    def load_user(user_id: str) -> Any:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None

    cases = KronCases()
    cases.init_app(app, db=db, conversation_model=Conversation, message_model=Message, user_model=User)

    @cases.conversation_access
    def can_see(user: Any, conversation: Any) -> bool:
        return bool(user.is_admin or conversation.team == user.team)

    @cases.admin_check
    def is_admin(user: Any) -> bool:
        return bool(user.is_admin)

    @cases.conversation_url
    def conversation_url(conversation: Any) -> str:
        return f"/conversations/{conversation.id}"

    @cases.message_reader
    def read_message(message: Any) -> SummaryInput:
        return SummaryInput(author_role=message.author_role, text=message.body, sent_at=message.created_at)

    @cases.user_name
    def user_name(user: Any) -> str:
        return str(user.name)

    @app.get("/login-as/<int:user_id>")
    def login_as(user_id: int) -> Any:
        user = db.session.get(User, user_id) or abort(404)
        login_user(user)
        return redirect("/")

    @app.get("/")
    @login_required
    def inbox() -> str:
        conversations = db.session.scalars(sa.select(Conversation).order_by(Conversation.id)).all()
        return render_template("inbox.html", conversations=conversations)

    @app.get("/conversations/<int:conversation_id>")
    @login_required
    def conversation(conversation_id: int) -> str:
        found = db.session.get(Conversation, conversation_id) or abort(404)
        messages = db.session.scalars(
            sa.select(Message).where(Message.conversation_id == found.id).order_by(Message.created_at, Message.id)
        ).all()
        return render_template("conversation.html", conversation=found, messages=messages)

    return app, cases


def seed(app: Flask) -> dict[str, Any]:
    """One agent, one conversation of four messages; returns their keys."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    with app.app_context():
        db.create_all()
        agent = classic.make_user("Gina Grid", "support")
        conversation = classic.make_conversation("Checkout rejects every Visa card", "support")
        db.session.add_all([agent, conversation])
        db.session.flush()
        bodies = [
            ("customer", "Hi, checkout rejects my Visa card with error 402 since this morning."),
            ("agent", "Sorry to hear that! Which browser do you use?"),
            ("customer", "Firefox 126 on Windows; Chrome fails the same way."),
            ("agent", "Thanks, we are looking into it."),
        ]
        messages = [
            Message(conversation_id=conversation.id, body=body, author_role=role, created_at=start + timedelta(minutes=5 * n))
            for n, (role, body) in enumerate(bodies)
        ]
        db.session.add_all(messages)
        db.session.commit()
        keys = {"agent": agent.id, "conversation": conversation.id, "messages": [m.id for m in messages]}
        db.session.remove()
        return keys
