"""Two host helpdesks with different schemas, and one app factory for both.

``classic``: integer keys, tables ``users``/``conversations``/``messages``.
``uuid``: UUID and string keys, tables ``staff``/``threads``/``posts``, other
column names. The extension must work on both without knowing either.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import generate_csrf

from flask_kroncases import KronCases

from . import classic, uuid_host

HOSTS: dict[str, ModuleType] = {"classic": classic, "uuid": uuid_host}


def make_app(host: ModuleType, database_url: str, engine_options: dict[str, Any] | None = None,
             extension: KronCases | None = None, **config: Any) -> tuple[Flask, KronCases]:
    app = Flask(f"test_{host.__name__.rsplit('.', 1)[-1]}")
    app.config.update(
        SECRET_KEY="test-secret",
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options or {},
        **config,
    )
    host.db.init_app(app)
    login = LoginManager(app)

    @login.user_loader
    def load_user(user_id: str) -> Any:
        key = host.coerce_user_id(user_id)
        return host.db.session.get(host.User, key) if key is not None else None

    cases = extension or KronCases()
    cases.init_app(
        app,
        db=host.db,
        conversation_model=host.Conversation,
        message_model=host.Message,
        user_model=host.User,
    )

    @cases.conversation_access
    def can_see(user: Any, conversation: Any) -> bool:
        return bool(user.is_admin or user.team == conversation.team)

    @cases.admin_check
    def is_admin(user: Any) -> bool:
        return bool(user.is_admin)

    @cases.conversation_url
    def conversation_url(conversation: Any) -> str:
        return f"/conversations/{host.key(conversation)}"

    @app.get("/csrf")
    def csrf() -> str:
        return generate_csrf()

    return app, cases
