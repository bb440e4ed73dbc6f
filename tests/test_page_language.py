"""The extension's own pages say which language they are in (``<html lang>``), for screen readers and browsers.

Without Flask-Babel set up they are English; with it, the host's locale selector decides.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel

from .conftest import Desk
from .test_i18n import database, host  # noqa: F401  (fixtures: SQLite, the classic host)


def test_pages_are_english_without_babel(app: Flask, desk: Desk) -> None:
    with app.app_context():
        client = app.test_client(user=desk.user(desk.agent))
    page = client.get("/kroncases/no-such-page", headers={"X-Locale": "de"})
    assert page.status_code == 404 and '<html lang="en">' in page.get_data(as_text=True)


def test_pages_take_the_language_of_the_locale_selector(app: Flask, desk: Desk) -> None:
    Babel(app, locale_selector=lambda: request.headers.get("X-Locale"))
    with app.app_context():
        client = app.test_client(user=desk.user(desk.agent))
    brazilian = client.get("/kroncases/no-such-page", headers={"X-Locale": "pt_BR"})
    assert brazilian.status_code == 404 and '<html lang="pt-BR">' in brazilian.get_data(as_text=True)
    assert '<html lang="en">' in client.get("/kroncases/no-such-page").get_data(as_text=True)
