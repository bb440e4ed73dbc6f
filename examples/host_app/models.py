"""The demo helpdesk's own tables: agents, conversations with customers, messages.

Nothing here knows about flask-kroncases; the extension is given these models in
``create_app`` and adds its tables next to them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash, generate_password_hash

db = SQLAlchemy()


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(UserMixin, db.Model):  # type: ignore[name-defined, misc]
    """An agent. Admins see every team's conversations."""

    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    email = db.Column(db.String(200), nullable=False, unique=True)
    password_hash = db.Column(db.String(256), nullable=False)
    team = db.Column(db.String(40), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)
    #: The agent's language and time zone, picked in the sidebar; Flask-Babel's selectors read them.
    locale = db.Column(db.String(10), nullable=False, default="en", server_default="en")
    timezone = db.Column(db.String(64), nullable=False, default="UTC", server_default="UTC")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def can_see(self, conversation: Conversation) -> bool:
        """The one access rule, used by our views and handed to the extension."""
        return bool(self.is_admin or self.team == conversation.team)

    @property
    def initials(self) -> str:
        return "".join(part[0] for part in self.name.split()[:2]).upper()


class Conversation(db.Model):  # type: ignore[name-defined, misc]
    """A support conversation with one customer, owned by one team."""

    __tablename__ = "conversations"

    id = db.Column(db.Integer, primary_key=True)
    subject = db.Column(db.String(200), nullable=False)
    customer_name = db.Column(db.String(120), nullable=False)
    customer_email = db.Column(db.String(200), nullable=False)
    team = db.Column(db.String(40), nullable=False, index=True)
    status = db.Column(db.String(20), nullable=False, default="open")
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    messages = db.relationship(
        "Message",
        back_populates="conversation",
        order_by="(Message.created_at, Message.id)",
        cascade="all, delete-orphan",
    )

    @property
    def last_message(self) -> Message | None:
        return self.messages[-1] if self.messages else None


class Message(db.Model):  # type: ignore[name-defined, misc]
    """One message of a conversation, written by the customer or by an agent."""

    __tablename__ = "messages"

    id = db.Column(db.Integer, primary_key=True)
    conversation_id = db.Column(
        db.Integer, db.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    author_role = db.Column(db.String(20), nullable=False, default="customer")
    author_name = db.Column(db.String(120), nullable=False)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    conversation = db.relationship(Conversation, back_populates="messages")

    @property
    def from_agent(self) -> bool:
        return self.author_role == "agent"
