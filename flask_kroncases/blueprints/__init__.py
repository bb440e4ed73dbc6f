"""Blueprints: thin views that parse a request, call one service method and render.

Views never check access themselves: the service they call authorizes once.
What every blueprint shares lives here: the request guards (body size, CSRF
through Flask-WTF) and which blueprints a host app gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, render_template, request
from flask_wtf.csrf import CSRFProtect

from ..config import template_name

PACKAGE_DIR = Path(__file__).resolve().parent.parent

#: Carries the overridable templates (``templates/kroncases/``) and the static
#: files (served under ``<prefix>/static``); blueprint template folders come
#: after the host's own, so a host overrides any template by its path.
assets = Blueprint(
    "kroncases_assets",
    __name__,
    template_folder=str(PACKAGE_DIR / "templates"),
    static_folder=str(PACKAGE_DIR / "static" / "kroncases"),
    static_url_path="/static",
)

#: Checks the extension's POSTs when the host did not set up ``CSRFProtect``;
#: never registered on the app, so host routes are left as the host wants them.
_csrf = CSRFProtect()


def limit_body() -> None:
    """Refuse a body over the host's ``MAX_CONTENT_LENGTH``, else ``KRONCASES_MAX_BODY_BYTES`` (413)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or current_app.config["KRONCASES_MAX_BODY_BYTES"]
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        abort(413)


def protect_csrf() -> None:
    """Check the CSRF token through Flask-WTF, honouring ``WTF_CSRF_*``; raises ``CSRFError``.

    A host with ``CSRFProtect`` has checked the request already (``g.csrf_valid``);
    without it, the same check runs here.
    """
    config = current_app.config
    if not config["WTF_CSRF_ENABLED"] or request.method not in config["WTF_CSRF_METHODS"]:
        return
    if g.get("csrf_valid"):
        return
    protector = current_app.extensions.get("csrf")
    (protector if isinstance(protector, CSRFProtect) else _csrf).protect()


def html_safe_json(response: Response) -> Response:
    """Escape ``<``, ``>`` and ``&`` in JSON replies (as ``\u003c`` ...), as Jinja's ``tojson`` does.

    Replies echo what was sent (a refused message id, a title); escaped, no
    reply can be sniffed or pasted into a page as live markup. JSON.parse
    gives back the same text.
    """
    if response.mimetype == "application/json" and not response.direct_passthrough:
        body = response.get_data()
        if b"<" in body or b">" in body or b"&" in body:
            response.set_data(body.replace(b"&", b"\\u0026").replace(b"<", b"\\u003c").replace(b">", b"\\u003e"))
    return response


def render(name: str, **context: Any) -> str:
    """Render one of the extension's templates by its short name (``KRONCASES_TEMPLATES``)."""
    return render_template(template_name(current_app.config, name), **context)


def register_blueprints(app: Flask) -> None:
    """Register the assets and the blueprints the host's ``KRONCASES_REGISTER_*`` keys ask for."""
    from .cases import api
    from .panel import panel
    from .settings import settings

    config = app.config
    prefix = config["KRONCASES_URL_PREFIX"].rstrip("/")
    app.register_blueprint(assets, url_prefix=prefix)
    if config["KRONCASES_REGISTER_API"]:
        app.register_blueprint(api, url_prefix=prefix + "/api")
    if config["KRONCASES_REGISTER_SETTINGS"]:
        app.register_blueprint(settings, url_prefix=prefix + "/settings")
    if config["KRONCASES_REGISTER_PAGES"]:
        app.register_blueprint(panel, url_prefix=prefix)
