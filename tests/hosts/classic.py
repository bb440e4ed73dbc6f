"""A host with integer keys and the usual table names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    team = db.Column(db.String(40), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)


class Conversation(db.Model):
    __tablename__ = "conversations"
    id = db.Column(db.Integer, primary_key=True)
    subject = db.Column(db.String(200), nullable=False)
    team = db.Column(db.String(40), nullable=False)


class Message(db.Model):
    __tablename__ = "messages"
    id = db.Column(db.Integer, primary_key=True)
    conversation_id = db.Column(db.Integer, db.ForeignKey("conversations.id"), nullable=False)
    author_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=True)
    author_role = db.Column(db.String(20), nullable=False, default="customer")
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=lambda: datetime.now(UTC))


HOST_COLUMNS = {
    "users": {"id", "name", "team", "is_admin"},
    "conversations": {"id", "subject", "team"},
    "messages": {"id", "conversation_id", "author_id", "author_role", "body", "created_at"},
}


def key(obj: Any) -> Any:
    return obj.id


def coerce_user_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def make_user(name: str, team: str, admin: bool = False) -> User:
    return User(name=name, team=team, is_admin=admin)


def make_conversation(subject: str, team: str) -> Conversation:
    return Conversation(subject=subject, team=team)


def make_message(conversation: Conversation, body: str, role: str = "customer") -> Message:
    return Message(conversation_id=conversation.id, body=body, author_role=role)
