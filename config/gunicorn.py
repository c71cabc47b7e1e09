"""The web server as the image runs it (the Dockerfile's CMD: ``gunicorn --config python:config.gunicorn``).

Threaded workers: a request spends much of its time waiting on PostgreSQL, and a thread waiting lets
another run, so two processes (one per core of a small machine) with a few threads each serve many
clients at once; each thread keeps its database connection for 60 s (``DATABASE_CONN_MAX_AGE``, set
here for the web processes only, before they load the settings; the environment's own value wins).
``benchmarks/api_load.py`` measures it (docs/benchmarks.md, "The API under load").
"""

from __future__ import annotations

import os


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise SystemExit(f"{name}={value!r} is not allowed: expected a whole number from 1 to 64.")
    return int(value)


os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")

worker_class = "gthread"
workers = _count("WEB_CONCURRENCY", 2)
threads = _count("WEB_THREADS", 8)
accesslog = "-"
