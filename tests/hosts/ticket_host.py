"""A host shaped like an existing open-source ticket system, to embed the extension in.

Tables ``agents``/``tickets``/``replies``; the first and usually most important
message is ``Ticket.body``, not a reply (the ``opening_message`` hook). Times
are naive server-local datetimes (Tokyo); replies are paginated; every template
lives in a blueprint folder (no app templates folder), including an override of
``kroncases/layout.html``; the pages load Bootstrap-like rules on bare elements;
there is no ``CSRFProtect``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import generate_csrf

from flask_kroncases import KronCases
from flask_kroncases.hooks import SummaryInput

db = SQLAlchemy()


#: Where the server stands: its rows hold naive local times of this zone.
ZONE = "Asia/Tokyo"
REPLIES_PER_PAGE = 2


def _now() -> datetime:
    return datetime.now(ZoneInfo(ZONE)).replace(tzinfo=None)


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
    created_at = db.Column(db.DateTime, nullable=False, default=_now)


class Reply(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "replies"
    id = db.Column(db.Integer, primary_key=True)
    ticket_id = db.Column(db.Integer, db.ForeignKey("tickets.id"), nullable=False)
    text = db.Column(db.Text, nullable=False)
    from_staff = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=_now)


def make_app(database_url: str, engine_options: dict[str, Any], *, with_opening: bool = True,
             **config: Any) -> tuple[Flask, KronCases]:
    app = Flask("ticket_host", template_folder=None)
    app.config.update(SECRET_KEY="ticket-secret", TESTING=True, SQLALCHEMY_DATABASE_URI=database_url,
                      SQLALCHEMY_ENGINE_OPTIONS=engine_options, KRONCASES_HOST_TIMEZONE=ZONE, **config)
    db.init_app(app)
    login = LoginManager(app)
    login.user_loader(lambda key: db.session.get(Agent, int(key)))
    cases = KronCases(db=db, conversation_model=Ticket, message_model=Reply, user_model=Agent)
    cases.conversation_access(lambda user, ticket: True)
    cases.conversation_url(lambda ticket: f"/tickets/{ticket.id}")
    cases.message_url(lambda reply: f"/tickets/{reply.ticket_id}?page={page_of(reply)}#kc-message-{reply.id}")
    cases.message_reader(lambda reply: SummaryInput("agent" if reply.from_staff else "customer", reply.text,
                                                    reply.created_at))
    if with_opening:
        @cases.opening_message
        def opening(ticket: Ticket) -> SummaryInput:
            return SummaryInput("customer", ticket.body, ticket.created_at)

    cases.init_app(app)  # after the hooks: init_app knows how replies are read and says nothing
    app.register_blueprint(helpdesk)  # registered after init_app: its kroncases/layout.html still wins
    app.get("/csrf")(generate_csrf)
    return app, cases


helpdesk = Blueprint("helpdesk", __name__, template_folder=str(Path(__file__).parent / "ticket_templates"))


def replies_of(ticket_id: int) -> list[Reply]:
    return list(db.session.scalars(db.select(Reply).where(Reply.ticket_id == ticket_id)
                                   .order_by(Reply.created_at, Reply.id)))


def page_of(reply: Reply) -> int:
    ids = [r.id for r in replies_of(reply.ticket_id)]
    return ids.index(reply.id) // REPLIES_PER_PAGE + 1


@helpdesk.get("/login/<int:agent_id>")
def login(agent_id: int) -> Any:
    login_user(db.session.get(Agent, agent_id) or abort(404))
    return redirect(request.args.get("next") or "/")


@helpdesk.get("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int) -> str:
    found = db.session.get(Ticket, ticket_id) or abort(404)
    replies = replies_of(ticket_id)
    pages = max(1, -(-len(replies) // REPLIES_PER_PAGE))
    page = min(max(1, request.args.get("page", 1, type=int)), pages)
    shown = replies[(page - 1) * REPLIES_PER_PAGE : page * REPLIES_PER_PAGE]
    following = replies[page * REPLIES_PER_PAGE] if page < pages else None
    return render_template(
        "helpdesk/ticket.html", ticket=found, replies=shown, page=page, pages=pages, agent=current_user,
        page_start=shown[0].created_at if page > 1 and shown else None,
        page_end=following.created_at if following is not None else None,
        page_url=lambda n: url_for("helpdesk.ticket", ticket_id=ticket_id, page=n),
    )
