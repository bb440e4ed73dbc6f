"""An app factory for subprocesses (``flask --app tests.hosts.wsgi kroncases worker``).

The test passes what its own app uses through the environment, so the worker
process sees the same host schema, database (schema) and config.
"""

from __future__ import annotations

import json
import os

from flask import Flask

from . import HOSTS, make_app


def create_app() -> Flask:
    host = HOSTS[os.environ["KRONCASES_TEST_HOST"]]
    engine_options = json.loads(os.environ.get("KRONCASES_TEST_ENGINE_OPTIONS", "{}"))
    config = json.loads(os.environ.get("KRONCASES_TEST_CONFIG", "{}"))
    app, _ = make_app(host, os.environ["KRONCASES_TEST_DATABASE_URL"], engine_options, **config)
    return app
