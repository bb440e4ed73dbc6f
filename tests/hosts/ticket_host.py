"""A host shaped like many ticket systems: the opening text is a column of the ticket row.

Tables ``agents``/``tickets``/``replies``; the first and usually most important
message is ``Ticket.body``, not a reply. It reaches the extension through the
``opening_message`` hook.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import generate_csrf

from flask_kroncases import KronCases
from flask_kroncases.hooks import SummaryInput

db = SQLAlchemy()


def _now() -> datetime:
    return datetime.now(UTC)


class Agent(UserMixin, db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "agents"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)


class Ticket(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "tickets"
    id = db.Column(db.Integer, primary_key=True)
    subject = db.Column(db.String(200), nullable=False)
    body = db.Column(db.Text, nullable=False)
    requester = db.Column(db.String(80), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=_now)


class Reply(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "replies"
    id = db.Column(db.Integer, primary_key=True)
    ticket_id = db.Column(db.Integer, db.ForeignKey("tickets.id"), nullable=False)
    text = db.Column(db.Text, nullable=False)
    from_staff = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=_now)


def make_app(database_url: str, engine_options: dict[str, Any], *, with_opening: bool = True,
             **config: Any) -> tuple[Flask, KronCases]:
    app = Flask("ticket_host")
    app.config.update(SECRET_KEY="ticket-secret", TESTING=True, SQLALCHEMY_DATABASE_URI=database_url,
                      SQLALCHEMY_ENGINE_OPTIONS=engine_options, **config)
    db.init_app(app)
    login = LoginManager(app)
    login.user_loader(lambda key: db.session.get(Agent, int(key)))
    cases = KronCases(db=db, conversation_model=Ticket, message_model=Reply, user_model=Agent)
    cases.conversation_access(lambda user, ticket: True)
    cases.conversation_url(lambda ticket: f"/tickets/{ticket.id}")
    cases.message_reader(lambda reply: SummaryInput("agent" if reply.from_staff else "customer", reply.text,
                                                    reply.created_at))
    if with_opening:
        @cases.opening_message
        def opening(ticket: Ticket) -> SummaryInput:
            return SummaryInput("customer", ticket.body, ticket.created_at)

    cases.init_app(app)  # after the hooks: init_app knows how replies are read and says nothing
    app.get("/csrf")(generate_csrf)
    return app, cases
