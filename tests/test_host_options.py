"""What a host can switch off or replace: each blueprint, and every template by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_login import FlaskLoginClient

from .conftest import Desk
from .hosts import classic, make_app


def app_with(tmp_path: Path, **config: Any) -> Flask:
    app, _ = make_app(classic, f"sqlite:///{tmp_path / 'host.sqlite'}", **config)
    app.test_client_class = FlaskLoginClient
    with app.app_context():
        classic.db.create_all()
    return app


@pytest.mark.parametrize(
    ("switch", "prefix"),
    [("KRONCASES_REGISTER_API", "/kroncases/api"), ("KRONCASES_REGISTER_PAGES", "/kroncases/cases"),
     ("KRONCASES_REGISTER_SETTINGS", "/kroncases/settings")],
)
def test_each_blueprint_can_be_switched_off(tmp_path: Path, switch: str, prefix: str) -> None:
    on = app_with(tmp_path)
    off = app_with(tmp_path, **{switch: False})
    def rules(app: Flask) -> set[str]:
        return {rule.rule for rule in app.url_map.iter_rules()}

    assert any(rule.startswith(prefix) for rule in rules(on))
    assert not any(rule.startswith(prefix) for rule in rules(off))
    assert "/kroncases/static/<path:filename>" in rules(off)  # templates and assets stay


def test_templates_are_replaced_by_name(app: Flask, desk: Desk, tmp_path: Path) -> None:
    folder = tmp_path / "host_templates" / "helpdesk"
    folder.mkdir(parents=True)
    (folder / "cases.html").write_text("HOST CASES PAGE {{ result.total }}")
    (folder / "panel.html").write_text("HOST PANEL {{ cases|length }}")
    from jinja2 import ChoiceLoader, FileSystemLoader

    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(tmp_path / "host_templates")), app.jinja_loader])
    app.config["KRONCASES_TEMPLATES"] = {"cases_page": "helpdesk/cases.html", "panel": "helpdesk/panel.html"}
    with app.app_context():
        client = app.test_client(user=desk.user(desk.agent))
    assert client.get("/kroncases/cases").get_data(as_text=True) == "HOST CASES PAGE 0"
    fragments = client.get(f"/kroncases/conversations/{desk.conversation}/fragments").json
    assert fragments["panel"] == "HOST PANEL 0"


def test_an_unknown_template_name_is_refused_at_init(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown templates"):
        app_with(tmp_path, KRONCASES_TEMPLATES={"cases": "x.html"})


@pytest.mark.parametrize("order", ["blueprint after init_app", "blueprint before init_app", "app folder",
                                   "environment built before init_app"])
def test_a_host_template_override_wins_wherever_it_lives(tmp_path: Path, order: str) -> None:
    """The host's ``templates/kroncases/error.html`` replaces ours from any of its template folders."""
    from flask import Blueprint
    from flask_login import LoginManager

    from flask_kroncases import KronCases

    folder = tmp_path / "templates" / "kroncases"
    folder.mkdir(parents=True)
    (folder / "error.html").write_text("HOST ERROR PAGE {{ status }}")
    app = Flask("override_host", template_folder=str(tmp_path / "templates") if order == "app folder" else None)
    app.config.update(SECRET_KEY="s", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'o.sqlite'}")
    app.test_client_class = FlaskLoginClient
    classic.db.init_app(app)
    login = LoginManager(app)
    login.user_loader(lambda key: classic.db.session.get(classic.User, int(key)))
    helpdesk = Blueprint("helpdesk", __name__, template_folder=str(tmp_path / "templates"))
    if order == "blueprint before init_app":
        app.register_blueprint(helpdesk)
    if order == "environment built before init_app":
        app.register_blueprint(helpdesk)
        assert app.jinja_env is not None
    cases = KronCases(app, db=classic.db, conversation_model=classic.Conversation,
                      message_model=classic.Message, user_model=classic.User)
    cases.conversation_access(lambda user, conversation: True)
    if order == "blueprint after init_app":
        app.register_blueprint(helpdesk)
    with app.app_context():
        classic.db.create_all()
        user = classic.make_user("Ann", "support")
        classic.db.session.add(user)
        classic.db.session.commit()
        client = app.test_client(user=user)
    page = client.post("/kroncases/conversations/987654/case-form", data={})  # no CSRF token: the error page
    assert page.status_code == 400
    assert page.get_data(as_text=True) == "HOST ERROR PAGE 400"
    # Templates the host does not override still come from the package.
    with app.test_request_context():
        assert app.jinja_env.get_template("kroncases/_panel.html").filename.endswith(
            "flask_kroncases/templates/kroncases/_panel.html")


def test_url_helpers_for_every_page_a_host_links_to(tmp_path: Path) -> None:
    on = app_with(tmp_path)
    off = app_with(tmp_path, KRONCASES_REGISTER_PAGES=False, KRONCASES_REGISTER_SETTINGS=False)
    with on.test_request_context():
        helpers = on.jinja_env.globals["kroncases"]
        assert helpers.cases_url() == "/kroncases/cases"
        assert helpers.cases_url(status="open") == "/kroncases/cases?status=open"
        assert helpers.settings_url() == "/kroncases/settings/integrations/webhooks"
    with off.test_request_context():
        helpers = off.jinja_env.globals["kroncases"]
        assert helpers.cases_url() is None and helpers.settings_url() is None
