"""What every service shares: the host's ``db`` (whose session they commit) and our models."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..errors import CaseError
from ..i18n import gettext
from ..models import Models, coerce_key


class Service:
    """Base of the services: one app's ``db`` and models, and a lookup by raw id."""

    def __init__(self, db: Any, models: Models) -> None:
        self.db = db
        self.models = models

    @property
    def session(self) -> Any:
        return self.db.session

    @property
    def config(self) -> Any:
        return current_app.config

    def find(self, model: type, raw_id: Any, missing: str) -> Any:
        """The row of ``model`` with this id (an int, or text straight from a URL), else not_found.

        Text that is no key of the column's type (``"-1"``, ``"²"``, an id past
        the column's range, NUL) is refused here, before the database could
        choke on it, with the same words as a missing row. ``missing`` is a
        marked text (``N_``), looked up in the agent's language when it is said.
        """
        if isinstance(raw_id, model):
            return raw_id
        key = coerce_key(model.__table__.c.id.type, raw_id)  # type: ignore[attr-defined]
        found = self.session.get(model, key) if key is not None else None
        if found is None:
            raise CaseError(gettext(missing), kind="not_found")
        return found
