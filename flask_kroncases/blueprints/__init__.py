"""Blueprints: thin views that parse a request, call one service method and render.

Views never check access themselves: the service they call authorizes once.
What every blueprint shares lives here: the request guards (body size, CSRF
through Flask-WTF) and which blueprints a host app gets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from ..config import template_name
from ..i18n import N_
from ..i18n import gettext as _

PACKAGE_DIR = Path(__file__).resolve().parent.parent

#: Serves the static files under ``<prefix>/static``. Our templates are not a
#: blueprint folder: they are the app's *last* loader (see
#: :func:`templates_last`), so a host's ``templates/kroncases/...`` wins from
#: its app folder or any of its blueprints, registered before or after us.
assets = Blueprint(
    "kroncases_assets",
    __name__,
    static_folder=str(PACKAGE_DIR / "static" / "kroncases"),
    static_url_path="/static",
)

TEMPLATE_FOLDER = PACKAGE_DIR / "templates"


def templates_last(app: Flask) -> None:
    """Put the extension's templates after every loader of the host app.

    Flask asks the app folder first and then blueprint folders in the order
    they were registered, so a blueprint folder of ours would hide a host
    override that lives in a blueprint registered after ``init_app``.
    """
    ours = FileSystemLoader(str(TEMPLATE_FOLDER))
    if "jinja_env" in app.__dict__:  # the host built its environment already
        app.jinja_env.loader = ChoiceLoader([app.jinja_env.loader, ours])  # type: ignore[list-item]
        return
    make_loader = app.create_global_jinja_loader

    def create_global_jinja_loader() -> BaseLoader:
        return ChoiceLoader([make_loader(), ours])

    app.create_global_jinja_loader = create_global_jinja_loader  # type: ignore[method-assign, assignment]

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


#: What an HTML error page says when the refusal brought no words of its own
#: (marked only: :func:`error_message` looks them up in the agent's language).
ERROR_MESSAGES = {
    400: N_("This request could not be understood. Reload the page and try again."),
    401: N_("Sign in to work with cases."),
    403: N_("You are not allowed to open this page."),
    404: N_("There is no such page."),
    405: N_("This page does not take that kind of request."),
}
#: Said for any other refusal.
SOMETHING_WRONG = N_("Something went wrong.")
#: Said for a body over the limit (413).
TOO_LARGE = N_("This request is too large; nothing was saved.")


def error_message(status: int) -> str:
    """What a refusal with this status says, in the agent's language."""
    return _(ERROR_MESSAGES.get(status, TOO_LARGE if status == 413 else SOMETHING_WRONG))


#: A path on this site as a link may carry it: one leading slash (``//host`` and ``/\host``
#: lead elsewhere), no backslash, space or control character (browsers drop some of them).
_SITE_PATH = re.compile(r"/(?![/\\])[^\s\\\x00-\x1f\x7f]*")


#: The refusals the pages and settings blueprints show as pages in the layout. Server errors
#: (5xx) are left to the host's own handlers.
ERROR_STATUSES = tuple(ERROR_MESSAGES)


def way_back() -> tuple[str, str]:
    """The link of an error page: the page the agent came from, else the cases page, else the site's start.

    The referrer counts only when it is on this request's host, and only its
    path and query are kept, so the link never leads off the site (no open
    redirect through a forged ``Referer``). A referrer that is the failing
    page itself is no way back.
    """
    referrer = urlsplit(request.referrer or "")
    target = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    if (referrer.scheme in ("http", "https") and referrer.netloc.lower() == request.host.lower()
            and _SITE_PATH.fullmatch(target)):
        here = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
        if target != here:
            return target, _("Go back")
    if "kroncases_panel.cases" in current_app.view_functions:
        cases = url_for("kroncases_panel.cases")
        if cases != request.path:
            return cases, _("Back to support cases")
    return request.script_root + "/", _("Back to the start page")


def error_page(status: int, message: str | None = None) -> ResponseReturnValue:
    """An HTML error page inside ``kroncases/layout.html`` (the host's frame when it overrides it), with a way back."""
    back_url, back_label = way_back()
    text = message or error_message(status)
    return render("error_page", message=text, status=status, back_url=back_url, back_label=back_label), status


def http_error_message(exc: HTTPException) -> str | None:
    """What ``abort(code, "...")`` said, or None for Werkzeug's stock description (then :data:`ERROR_MESSAGES`)."""
    description = exc.description
    return description if description and description != type(exc).description else None


def register_blueprints(app: Flask) -> None:
    """Register the assets and the blueprints the host's ``KRONCASES_REGISTER_*`` keys ask for."""
    from . import (
        case_list,  # noqa: F401  (its routes hang on the pages blueprint)
        case_page,  # noqa: F401  (its routes hang on the pages blueprint)
        reports,  # noqa: F401  (its route hangs on the pages blueprint)
    )
    from .cases import api
    from .panel import panel
    from .settings import settings

    config = app.config
    prefix = config["KRONCASES_URL_PREFIX"].rstrip("/")
    templates_last(app)
    app.register_blueprint(assets, url_prefix=prefix)
    if config["KRONCASES_REGISTER_API"]:
        app.register_blueprint(api, url_prefix=prefix + "/api")
    if config["KRONCASES_REGISTER_SETTINGS"]:
        app.register_blueprint(settings, url_prefix=prefix + "/settings")
    if config["KRONCASES_REGISTER_PAGES"]:
        app.register_blueprint(panel, url_prefix=prefix)


#: Every method a catch-all route answers, so a wrong method is told apart from a wrong URL.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def refuse_unrouted(not_found: str | None = None) -> NoReturn:
    """For a catch-all route: 405 (with the methods that fit) when another route takes this URL, else 404.

    Routing errors never reach a blueprint's error handlers; raising from a
    route of the blueprint lets its handlers answer in its own way.
    """
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed: set[str] = set()
    for method in ANY_METHOD:
        try:
            rule, _arguments = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint != request.endpoint:
            allowed |= rule.methods or set()
    if allowed:
        raise MethodNotAllowed(valid_methods=sorted(allowed))
    raise NotFound(not_found)
