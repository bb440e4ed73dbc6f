"""``python -m examples.host_app``: serve the demo helpdesk on http://127.0.0.1:5000."""

from __future__ import annotations

import os

from . import create_app

if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), debug=True)
