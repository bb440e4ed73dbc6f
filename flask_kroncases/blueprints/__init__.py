"""Blueprints: thin views that parse, authorize, call a service and render."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask

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


def register_blueprints(app: Flask) -> None:
    from .cases import api
    from .panel import panel
    from .settings import settings

    prefix = app.config["KRONCASES_URL_PREFIX"].rstrip("/")
    app.register_blueprint(assets, url_prefix=prefix)
    app.register_blueprint(api, url_prefix=prefix + "/api")
    app.register_blueprint(settings, url_prefix=prefix + "/settings")
    app.register_blueprint(panel, url_prefix=prefix)
