"""Our tables point at the host's tables, whatever their names and key types."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask_migrate import Migrate, init, migrate, upgrade

OUR_FKS = {
    # our table: {our column: host role}
    "kroncases_cases": {"conversation_id": "conversation", "created_by_id": "user", "assignee_id": "user"},
    "kroncases_case_messages": {"message_id": "message"},
    "kroncases_case_notes": {"author_id": "user"},
    "kroncases_activity": {"conversation_id": "conversation", "actor_id": "user"},
    "kroncases_conversation_labels": {"conversation_id": "conversation", "created_by_id": "user"},
}


def test_host_tables_get_no_new_columns(app, cases, host, ctx):
    inspector = sa.inspect(host.db.engine)
    for table, columns in host.HOST_COLUMNS.items():
        assert {c["name"] for c in inspector.get_columns(table)} == columns


def test_foreign_keys_copy_the_host_key_types_in_the_database(app, cases, host, ctx):
    inspector = sa.inspect(host.db.engine)
    schema = cases.models.host
    roles = {"conversation": schema.conversation, "message": schema.message, "user": schema.user}
    for table, columns in OUR_FKS.items():
        reflected = {c["name"]: c for c in inspector.get_columns(table)}
        fks = {fk["constrained_columns"][0]: fk for fk in inspector.get_foreign_keys(table)}
        for column, role in columns.items():
            target = roles[role]
            host_columns = {c["name"]: c for c in inspector.get_columns(target.table.name)}
            host_type = host_columns[target.pk_column.name]["type"]
            assert str(reflected[column]["type"]) == str(host_type), (table, column)
            assert fks[column]["referred_table"] == target.table.name
            assert fks[column]["referred_columns"] == [target.pk_column.name]


def test_message_conversation_attribute_is_inferred(app, cases, host, ctx):
    expected = {"classic": "conversation_id", "uuid_host": "thread_key"}[host.__name__.rsplit(".", 1)[-1]]
    assert cases.models.host.message_conversation_attr == expected


@pytest.fixture
def keep_loggers() -> Iterator[None]:
    """Alembic's env.py runs fileConfig(), which disables every existing logger."""
    loggers = [logging.getLogger(name) for name in logging.root.manager.loggerDict]
    enabled = [logger for logger in loggers if not logger.disabled]
    yield
    for logger in enabled:
        logger.disabled = False


def drift(db) -> list[Any]:
    """What Alembic's autogenerate finds between the database and the metadata."""
    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), db.metadata)


def test_host_alembic_autogenerate_writes_our_tables(app, cases, host, tmp_path, ctx, keep_loggers):
    """The host's own Flask-Migrate run creates our tables with the right foreign keys."""
    db = host.db
    db.drop_all()
    directory = str(tmp_path / "migrations")
    Migrate(app, db, directory=directory)
    init(directory)
    migrate(directory, message="add support cases")
    versions = list((tmp_path / "migrations" / "versions").glob("*.py"))
    assert len(versions) == 1
    script = versions[0].read_text()
    for table in OUR_FKS:
        assert f"op.create_table('{table}'" in script
    for column in WORKFLOW_COLUMNS:
        assert f"sa.Column('{column}'" in script
    conversation = cases.models.host.conversation
    assert f"['{conversation.table.name}.{conversation.pk_column.name}']" in script
    upgrade(directory)
    assert drift(db) == []
    assert set(OUR_FKS) <= set(sa.inspect(db.engine).get_table_names())

    # The check sees every column and table of ours: one missing from the database is drift.
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_kroncases_cases_due_at"))
        conn.execute(sa.text("ALTER TABLE kroncases_cases DROP COLUMN due_at"))
        conn.execute(sa.text("DROP TABLE kroncases_case_notes"))
    found = {(d[0], d[3].name if d[0] == "add_column" else d[1].name) for d in drift(db) if isinstance(d, tuple)}
    assert found == {("add_column", "due_at"), ("add_index", "ix_kroncases_cases_due_at"),
                     ("add_table", "kroncases_case_notes"), ("add_index", "ix_kroncases_case_notes_case_id")}


#: What the workflow release added to the cases table (and the notes table, new in it).
WORKFLOW_COLUMNS = ("assignee_id", "due_at", "clock_started_at", "paused_seconds", "pending_since",
                    "overdue_notified_for", "summary_by_agent")


def test_a_host_on_the_previous_release_upgrades_with_its_own_autogenerate(
    app, cases, desk, host, tmp_path, ctx, keep_loggers
):
    """A host that migrated the release before: autogenerate adds the new columns and table,
    the upgrade runs on a table with cases in it, and nothing drifts afterwards."""
    db = desk.host.db
    agent = desk.user(desk.agent)
    first = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:1]), title="Before",
                              summary="Old summary", by=agent).id
    db.session.remove()
    with db.engine.begin() as conn:   # back to the previous release's schema, the case kept
        op = Operations(MigrationContext.configure(conn))
        op.drop_table("kroncases_case_notes")
        with op.batch_alter_table("kroncases_cases") as batch:
            batch.drop_index("ix_kroncases_cases_assignee_id")
            batch.drop_index("ix_kroncases_cases_due_at")
            for column in WORKFLOW_COLUMNS:
                batch.drop_column(column)
    assert not set(WORKFLOW_COLUMNS) & {c["name"] for c in sa.inspect(db.engine).get_columns("kroncases_cases")}

    directory = str(tmp_path / "migrations")
    Migrate(app, db, directory=directory)
    init(directory)
    migrate(directory, message="cases that get worked")
    [version] = (tmp_path / "migrations" / "versions").glob("*.py")
    script = version.read_text()
    assert "op.create_table('kroncases_case_notes'" in script
    for column in WORKFLOW_COLUMNS:
        assert f"add_column(sa.Column('{column}'" in script
    upgrade(directory)
    assert drift(db) == []

    agent = desk.user(desk.agent)
    case = cases.get_case(first)
    assert (case.title, case.status, case.paused_seconds) == ("Before", "open", 0)
    second = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[1:2]), title="After", by=agent)
    cases.assign(second, agent, by=agent)
    cases.add_note(second, "Works after the upgrade", by=agent)
    assert second.due_at is not None and [n.body for n in second.notes] == ["Works after the upgrade"]


def test_a_deleted_host_message_leaves_its_case_on_every_database(app, cases, desk, ctx):
    """Even on SQLite without the foreign-key pragma (the test hosts leave it off)."""
    db = desk.host.db
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 0
    case = cases.create_case(desk.conv(desk.conversation), desk.msgs(desk.messages[:2]), title="Two",
                             by=desk.user(desk.agent))
    db.session.delete(desk.msgs(desk.messages[:1])[0])
    db.session.commit()
    assert case.message_ids == [desk.messages[1]]
    links = db.session.scalar(sa.select(sa.func.count()).select_from(cases.models.CaseMessage))
    assert links == 1
    assert cases.case_for_message(desk.msgs(desk.messages[1:2])[0]).id == case.id
