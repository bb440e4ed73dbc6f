"""The extension object: both set-up forms, config, per-app state, host hooks."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_kroncases import CaseError, KronCases
from flask_kroncases.config import DEFAULTS

from .hosts import classic, make_app, uuid_host


def sqlite_app(tmp_path: Path, name: str = "app") -> Flask:
    app = Flask(name)
    app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / (name + '.sqlite')}", SECRET_KEY="x")
    classic.db.init_app(app)
    return app


def test_constructor_form_registers_state(tmp_path):
    app = sqlite_app(tmp_path)
    cases = KronCases(
        app, db=classic.db, conversation_model=classic.Conversation,
        message_model=classic.Message, user_model=classic.User,
    )
    state = app.extensions["kroncases"]
    assert state.extension is cases and state.db is classic.db
    with app.app_context():
        assert cases.models is state.models
        assert cases.models.Case.__tablename__ == "kroncases_cases"
    assert "kroncases_api" in app.blueprints and "kroncases_assets" in app.blueprints


def test_init_app_form_with_schema_from_the_constructor(tmp_path):
    cases = KronCases(db=classic.db, conversation_model=classic.Conversation,
                      message_model=classic.Message, user_model=classic.User)
    app = sqlite_app(tmp_path)
    cases.init_app(app)
    assert app.extensions["kroncases"].models.host.message_conversation_attr == "conversation_id"


def test_init_app_twice_is_refused(tmp_path):
    app, cases = make_app(classic, f"sqlite:///{tmp_path / 'a.sqlite'}")
    with pytest.raises(RuntimeError, match="already been registered"):
        cases.init_app(app, db=classic.db, conversation_model=classic.Conversation,
                       message_model=classic.Message, user_model=classic.User)


def test_missing_models_are_named(tmp_path):
    with pytest.raises(TypeError, match="db=, conversation_model="):
        KronCases(sqlite_app(tmp_path))
    with pytest.raises(TypeError, match="unexpected keyword"):
        KronCases().init_app(sqlite_app(tmp_path, "b"), conversation=classic.Conversation)


def test_config_defaults_are_set_without_overriding_the_host(tmp_path):
    app, _ = make_app(classic, f"sqlite:///{tmp_path / 'a.sqlite'}", KRONCASES_PER_PAGE=10,
                      KRONCASES_URL_PREFIX="/support")
    assert app.config["KRONCASES_PER_PAGE"] == 10
    for key, value in DEFAULTS.items():
        if key not in ("KRONCASES_PER_PAGE", "KRONCASES_URL_PREFIX"):
            assert app.config[key] == value
    assert any(rule.rule.startswith("/support/api/cases") for rule in app.url_map.iter_rules())


def test_every_config_key_is_documented_in_the_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    documented = set(re.findall(r"`(KRONCASES_[A-Z_]+)`", readme))
    assert set(DEFAULTS) <= documented, set(DEFAULTS) - documented


def test_accessors_say_what_is_missing(tmp_path):
    cases = KronCases()
    app = sqlite_app(tmp_path)
    with app.app_context(), pytest.raises(RuntimeError, match="forget to call 'init_app'"):
        _ = cases.models


def test_one_instance_serves_two_apps_with_different_schemas(tmp_path):
    cases = KronCases()
    app_a, _ = make_app(classic, f"sqlite:///{tmp_path / 'a.sqlite'}", extension=cases)
    app_b, _ = make_app(uuid_host, f"sqlite:///{tmp_path / 'b.sqlite'}", extension=cases)
    for app, host in ((app_a, classic), (app_b, uuid_host)):
        with app.app_context():
            host.db.create_all()
            agent = host.make_user("Alex", "support")
            conv = host.make_conversation("Help", "support")
            host.db.session.add_all([agent, conv])
            host.db.session.flush()
            message = host.make_message(conv, "It is broken")
            host.db.session.add(message)
            host.db.session.commit()
            case = cases.create_case(conv, [message], title=f"On {host.__name__}", by=agent)
            assert cases.get_case(case.id).conversation_id == host.key(conv)
            assert type(case).__table__.c.conversation_id.references(host.Conversation.__table__.primary_key.columns[0])
    with app_a.app_context():
        a_case = app_a.extensions["kroncases"].models.Case
    with app_b.app_context():
        b_case = app_b.extensions["kroncases"].models.Case
    assert a_case is not b_case


def test_without_an_access_hook_every_conversation_is_refused(tmp_path):
    app = sqlite_app(tmp_path)
    cases = KronCases(app, db=classic.db, conversation_model=classic.Conversation,
                      message_model=classic.Message, user_model=classic.User)
    with app.app_context():
        classic.db.create_all()
        agent = classic.make_user("Alex", "support")
        conv = classic.make_conversation("Help", "support")
        classic.db.session.add_all([agent, conv])
        classic.db.session.flush()
        message = classic.make_message(conv, "Broken")
        classic.db.session.add(message)
        classic.db.session.commit()
        with pytest.raises(CaseError) as info:
            cases.create_case(conv, [message], title="x", by=agent)
        assert info.value.kind == "not_found"


def test_user_name_hook_names_agents(tmp_path):
    cases = KronCases()
    assert cases.display_name(classic.make_user("Alex Agent", "s")) == "Alex Agent"
    assert cases.display_name(uuid_host.make_user("Sam Staff", "s")) == "Sam Staff"

    @cases.user_name
    def name(user: object) -> str:
        return "Agent 7"

    assert cases.display_name(classic.make_user("Alex Agent", "s")) == "Agent 7"


def test_models_are_defined_once_per_db_and_refuse_another_host():
    from flask_kroncases.models import HostSchema, define_models

    db = SQLAlchemy()

    class Person(db.Model):
        __tablename__ = "people"
        id = db.Column(db.Integer, primary_key=True)

    class Chat(db.Model):
        __tablename__ = "chats"
        id = db.Column(db.Integer, primary_key=True)

    class Line(db.Model):
        __tablename__ = "lines"
        id = db.Column(db.Integer, primary_key=True)
        chat_id = db.Column(db.Integer, db.ForeignKey("chats.id"))
        first_chat_id = db.Column(db.Integer, db.ForeignKey("chats.id"))

    with pytest.raises(TypeError, match="message_conversation_attr"):
        HostSchema.inspect(Chat, Line, Person)
    schema = HostSchema.inspect(Chat, Line, Person, message_conversation_attr="chat_id")
    first = define_models(db, schema, "kc_")
    assert define_models(db, schema, "kc_") is first
    assert first.Case.__tablename__ == "kc_cases"
    with pytest.raises(RuntimeError, match="already defined"):
        define_models(db, HostSchema.inspect(Chat, Line, Person, message_conversation_attr="first_chat_id"), "kc_")


def test_init_app_says_in_one_line_how_messages_will_be_read(tmp_path, caplog):
    """A host whose messages have no recognisable text, time or role hears it at init_app."""
    import sqlalchemy as sa
    from flask_sqlalchemy import SQLAlchemy

    db = SQLAlchemy()

    class Agent(db.Model):  # type: ignore[name-defined, misc]
        id = db.Column(db.Integer, primary_key=True)

    class Ticket(db.Model):  # type: ignore[name-defined, misc]
        id = db.Column(db.Integer, primary_key=True)

    class Reply(db.Model):  # type: ignore[name-defined, misc]
        id = db.Column(db.Integer, primary_key=True)
        ticket_id = db.Column(db.Integer, sa.ForeignKey("ticket.id"))
        body = db.Column(db.Text)

    def bare_app(name: str) -> Flask:
        app = Flask(name)
        app.config.update(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / (name + '.sqlite')}", SECRET_KEY="x")
        db.init_app(app)
        return app

    with caplog.at_level(logging.WARNING, logger="flask_kroncases"):
        KronCases(bare_app("loud"), db=db, conversation_model=Ticket, message_model=Reply, user_model=Agent)
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_kroncases"]
    assert len(lines) == 1
    assert "text from .body" in lines[0] and "time: none of created_at" in lines[0]
    assert "every message counted as the customer's" in lines[0] and "@cases.message_reader" in lines[0]

    caplog.clear()
    quiet = KronCases(db=db, conversation_model=Ticket, message_model=Reply, user_model=Agent)
    quiet.message_reader(lambda m: None)  # type: ignore[arg-type, return-value]
    with caplog.at_level(logging.WARNING, logger="flask_kroncases"):
        quiet.init_app(bare_app("quiet"))
    assert not [r for r in caplog.records if r.name == "flask_kroncases"]
