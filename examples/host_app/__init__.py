"""A small helpdesk that embeds flask-kroncases only through its public API.

Run it with ``flask --app examples.host_app run`` (from the project root) and
sign in as ``alex@example.com``, ``bea@example.com`` or ``admin@example.com``,
password ``demo``. The first start creates and seeds the database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, request
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from flask_kroncases import KronCases

from .models import Conversation, Message, User, db

cases = KronCases()
login_manager = LoginManager()
csrf = CSRFProtect()

login_manager.login_view = "helpdesk.login"
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@cases.conversation_access
def can_see(user: User, conversation: Conversation) -> bool:
    return user.can_see(conversation)


@cases.admin_check
def is_admin(user: User) -> bool:
    return bool(user.is_admin)


@cases.conversation_url
def conversation_url(conversation: Conversation) -> str:
    """A path, never an absolute URL built from the request's Host header (a client can forge
    that one, and it would end up in a signed webhook body); the extension joins the path to
    ``KRONCASES_BASE_URL``. Works in a job too, where there is no request."""
    return f"/conversations/{conversation.id}"


@cases.user_name
def user_name(user: User) -> str:
    return user.name


def _locale() -> str | None:
    """The signed-in agent's language; before sign-in, the browser's; outside a request, English."""
    if not has_request_context():
        return None
    if current_user.is_authenticated:
        return str(current_user.locale)
    return request.accept_languages.best_match(["en", "de", "es", "fr"])


def _timezone() -> str | None:
    if not has_request_context() or not current_user.is_authenticated:
        return None
    return str(current_user.timezone)


def _babel(app: Flask) -> None:
    """Flask-Babel, when installed: the extension follows these two selectors."""
    try:
        from flask_babel import Babel
    except ImportError:  # English and UTC, as without translations
        return
    Babel(app, locale_selector=_locale, timezone_selector=_timezone)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides everything else (tests pass their database)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev-only-not-secret"),
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL"),
        # One command, no servers to install: suggestions and webhooks run in
        # threads of this process. KRONCASES_JOB_RUNNER=rq uses Redis and
        # `flask --app examples.host_app kroncases worker` instead.
        KRONCASES_JOB_RUNNER="thread",
        # Where receivers of the demo's webhooks link back to: the address
        # ./scripts/demo serves on (PORT, default 5000); KRONCASES_BASE_URL overrides it.
        KRONCASES_BASE_URL=f"http://127.0.0.1:{os.environ.get('PORT', '5000')}",
    )
    # Any KRONCASES_* setting may come from the environment (JSON or plain text).
    for key, value in os.environ.items():
        if key.startswith("KRONCASES_"):
            try:
                app.config[key] = json.loads(value)
            except ValueError:
                app.config[key] = value
    if config:
        app.config.update(config)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'helpdesk.sqlite'}"

    db.init_app(app)
    _babel(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    # The extension's tables join our metadata here, so seed's create_all makes them too.
    cases.init_app(app, db=db, conversation_model=Conversation, message_model=Message, user_model=User)

    from .views import bp

    app.register_blueprint(bp)

    from .seed import seed

    with app.app_context():
        seed(db)
    return app
