"""A host with UUID and string keys and other table and column names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def _uuid() -> str:
    return str(uuid.uuid4())


class Staff(UserMixin, db.Model):
    __tablename__ = "staff"
    uid = db.Column(db.String(36), primary_key=True, default=_uuid)
    display_name = db.Column(db.String(80), nullable=False)
    team = db.Column(db.String(40), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)

    def get_id(self) -> str:
        return self.uid


class Thread(db.Model):
    __tablename__ = "threads"
    key = db.Column(db.Uuid(as_uuid=False), primary_key=True, default=_uuid)
    topic = db.Column(db.String(200), nullable=False)
    team = db.Column(db.String(40), nullable=False)


class Post(db.Model):
    __tablename__ = "posts"
    uid = db.Column(db.String(36), primary_key=True, default=_uuid)
    thread_key = db.Column(db.Uuid(as_uuid=False), db.ForeignKey("threads.key"), nullable=False)
    staff_uid = db.Column(db.String(36), db.ForeignKey("staff.uid"), nullable=True)
    role = db.Column(db.String(20), nullable=False, default="customer")
    text = db.Column(db.Text, nullable=False)
    posted_at = db.Column(db.DateTime(timezone=True), nullable=False, default=lambda: datetime.now(UTC))


User, Conversation, Message = Staff, Thread, Post

HOST_COLUMNS = {
    "staff": {"uid", "display_name", "team", "is_admin"},
    "threads": {"key", "topic", "team"},
    "posts": {"uid", "thread_key", "staff_uid", "role", "text", "posted_at"},
}


def key(obj: Any) -> Any:
    return obj.key if isinstance(obj, Thread) else obj.uid


def coerce_user_id(raw: str) -> str | None:
    return raw or None


def make_user(name: str, team: str, admin: bool = False) -> Staff:
    return Staff(uid=_uuid(), display_name=name, team=team, is_admin=admin)


def make_conversation(subject: str, team: str) -> Thread:
    return Thread(key=_uuid(), topic=subject, team=team)


def make_message(conversation: Thread, body: str, role: str = "customer") -> Post:
    return Post(uid=_uuid(), thread_key=conversation.key, text=body, role=role)
