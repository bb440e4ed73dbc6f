"""``flask kroncases worker`` for the benchmarks, reporting its peak memory when it exits.

``python -m benchmarks.worker OUT.json [worker options]`` runs the extension's
own CLI (``flask --app benchmarks.host:worker_app kroncases worker ...``) and,
on exit (SIGTERM makes RQ stop warmly), writes the peak resident set size of
the worker process and of its largest child (work horses, the sweeper) in KiB.
"""

from __future__ import annotations

import atexit
import json
import resource
import sys


def _report(path: str) -> None:
    with open(path, "w") as out:
        json.dump({
            "self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        }, out)


def main() -> None:
    out, *options = sys.argv[1:]
    atexit.register(_report, out)
    from flask.cli import main as flask_main

    sys.argv = ["flask", "--app", "benchmarks.host:worker_app", "kroncases", "worker", *options]
    try:
        flask_main()
    except SystemExit:
        pass


if __name__ == "__main__":
    main()
