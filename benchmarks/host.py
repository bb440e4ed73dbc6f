"""A small helpdesk for the benchmarks: the same pages with and without flask-kroncases.

``create_app(..., extension=True)`` embeds the extension through its public API
(``KronCases.init_app`` and the ``kroncases`` template global);
``extension=False`` is the same host, same templates, same queries, without it.
The templates call the extension only under ``{% if kroncases is defined %}``,
so the two pages differ by exactly what the extension adds.

``worker_app()`` builds the app for ``flask --app benchmarks.host:worker_app
kroncases worker`` from ``BENCH_*`` environment variables.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, jsonify, render_template, request
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect, generate_csrf
from jinja2 import DictLoader
from sqlalchemy.orm import selectinload

from flask_kroncases import KronCases

db = SQLAlchemy()
cases = KronCases()
PER_PAGE = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(UserMixin, db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    team = db.Column(db.String(40), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)


class Conversation(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "conversations"
    id = db.Column(db.Integer, primary_key=True)
    subject = db.Column(db.String(200), nullable=False)
    customer_name = db.Column(db.String(120), nullable=False)
    team = db.Column(db.String(40), nullable=False)
    status = db.Column(db.String(20), nullable=False, default="open")
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    messages = db.relationship("Message", back_populates="conversation", order_by="(Message.created_at, Message.id)")


class Message(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "messages"
    id = db.Column(db.Integer, primary_key=True)
    conversation_id = db.Column(db.Integer, db.ForeignKey("conversations.id", ondelete="CASCADE"),
                                nullable=False, index=True)
    author_role = db.Column(db.String(20), nullable=False, default="customer")
    author_name = db.Column(db.String(120), nullable=False)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    conversation = db.relationship(Conversation, back_populates="messages")


class Note(db.Model):  # type: ignore[name-defined, misc]
    """What the bare endpoint inserts: one row, nothing else."""

    __tablename__ = "notes"
    id = db.Column(db.Integer, primary_key=True)
    conversation_id = db.Column(db.Integer, db.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


@cases.conversation_access
def can_see(user: User, conversation: Conversation) -> bool:
    return bool(user.is_admin or user.team == conversation.team)


@cases.admin_check
def is_admin(user: User) -> bool:
    return bool(user.is_admin)


@cases.conversation_url
def conversation_url(conversation: Conversation) -> str:
    return f"/conversations/{conversation.id}"


@cases.user_name
def user_name(user: User) -> str:
    return user.name


TEMPLATES = {
    "base.html": """<!doctype html><html><head><title>{% block title %}{% endblock %}</title>
{% if kroncases is defined %}{{ kroncases.assets() }}{% endif %}</head>
<body>{% block body %}{% endblock %}</body></html>""",
    "list.html": """{% extends "base.html" %}{% block title %}Inbox{% endblock %}{% block body %}
{% if kroncases is defined %}{{ kroncases.preload_labels(conversations) }}{% endif %}
<ul class="list">
{% for item in conversations %}{% set last = item.messages[-1] if item.messages else None %}
  <li><a href="/conversations/{{ item.id }}" data-conversation-id="{{ item.id }}">
    <strong>{{ item.customer_name }}</strong>
    {% if last %}<time datetime="{{ last.created_at.isoformat() }}">{{ last.created_at.strftime('%b %d %H:%M') }}</time>{% endif %}
    <span class="subject">{{ item.subject }}</span>
    {% if last %}<span class="preview">{{ last.body|truncate(90) }}</span>{% endif %}
    <span class="tags"><span class="status status--{{ item.status }}">{{ item.status|capitalize }}</span>
    {% if kroncases is defined %}{{ kroncases.badges(item) }}{% endif %}</span>
  </a></li>
{% endfor %}
</ul>
<nav>page {{ page }}</nav>
{% endblock %}""",
    "conversation.html": """{% extends "base.html" %}{% block title %}{{ conversation.subject }}{% endblock %}{% block body %}
<h1>{{ conversation.subject }}</h1>
<ol class="messages">
{% if kroncases is defined %}
  {% for item in kroncases.thread(conversation, messages) %}
    {% if item.is_message %}{% set message = item.message %}
      <li class="msg msg--{{ message.author_role }}" id="message-{{ message.id }}" tabindex="0" {{ item.attrs }}>
        <span class="author">{{ message.author_name }}</span>
        <time datetime="{{ message.created_at.isoformat() }}">{{ message.created_at.strftime('%b %d %H:%M') }}</time>
        {{ item.indicator }}
        <div data-kc-body>{{ message.body }}</div>
      </li>
    {% else %}{{ item.activity }}{% endif %}
  {% endfor %}
{% else %}
  {% for message in messages %}
      <li class="msg msg--{{ message.author_role }}" id="message-{{ message.id }}" tabindex="0">
        <span class="author">{{ message.author_name }}</span>
        <time datetime="{{ message.created_at.isoformat() }}">{{ message.created_at.strftime('%b %d %H:%M') }}</time>
        <div>{{ message.body }}</div>
      </li>
  {% endfor %}
{% endif %}
</ol>
<aside id="sidebar"><h2>{{ conversation.customer_name }}</h2><p>{{ messages|length }} messages</p>
{% if kroncases is defined %}{{ kroncases.panel(conversation) }}{% endif %}</aside>
{% if kroncases is defined %}{{ kroncases.case_form(conversation) }}{% endif %}
{% endblock %}""",
}


def create_app(database_url: str, engine_options: dict[str, Any] | None = None, *, extension: bool = True,
               **config: Any) -> Flask:
    app = Flask(f"bench_{'ours' if extension else 'bare'}")
    app.config.update(
        SECRET_KEY="bench-secret",
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options or {},
        WTF_CSRF_TIME_LIMIT=None,
        **config,
    )
    app.jinja_loader = DictLoader(TEMPLATES)  # type: ignore[assignment]
    db.init_app(app)
    CSRFProtect(app)
    login = LoginManager(app)

    @login.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None

    if extension:
        cases.init_app(app, db=db, conversation_model=Conversation, message_model=Message, user_model=User)

    def visible(query: Any) -> Any:
        return query if current_user.is_admin else query.where(Conversation.team == current_user.team)

    @app.get("/csrf")
    def csrf() -> str:
        return generate_csrf()  # type: ignore[no-any-return]

    @app.get("/conversations")
    @login_required
    def conversation_list() -> str:
        page = max(1, request.args.get("page", 1, type=int))
        query = visible(
            sa.select(Conversation).options(selectinload(Conversation.messages))
            .order_by(Conversation.id.desc()).offset((page - 1) * PER_PAGE).limit(PER_PAGE)
        )
        return render_template(
            "list.html", conversations=list(db.session.scalars(query)), page=page
        )

    @app.get("/conversations/<int:conversation_id>")
    @login_required
    def conversation(conversation_id: int) -> str:
        found = db.session.get(Conversation, conversation_id)
        if found is None or not (current_user.is_admin or current_user.team == found.team):
            abort(404)
        messages = list(db.session.scalars(
            sa.select(Message).where(Message.conversation_id == found.id).order_by(Message.created_at, Message.id)
        ))
        return render_template("conversation.html", conversation=found, messages=messages)

    @app.post("/notes")
    @login_required
    def add_note() -> Any:
        """The baseline for case creation: a host endpoint that inserts one row."""
        data = request.get_json(silent=True) or {}
        note = Note(conversation_id=int(data.get("conversation_id", 0)), body=str(data.get("body", "")))
        db.session.add(note)
        db.session.commit()
        return jsonify(note={"id": note.id, "body": note.body}), 201

    return app


def worker_app() -> Flask:
    """For ``flask --app benchmarks.host:worker_app kroncases worker`` (env: BENCH_*)."""
    return create_app(
        os.environ["BENCH_DATABASE_URL"],
        json.loads(os.environ.get("BENCH_ENGINE_OPTIONS", "{}")),
        extension=True,
        **json.loads(os.environ.get("BENCH_CONFIG", "{}")),
    )
