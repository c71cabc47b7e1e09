"""The web server's settings as the image runs them (config/gunicorn.py, the Dockerfile's CMD)."""

import importlib
import json
import os
import re
from pathlib import Path

import pytest

import config.gunicorn

CMD = json.loads(re.search(r"^CMD (\[.*\])$", Path("Dockerfile").read_text(), re.MULTILINE).group(1))


def reloaded(monkeypatch, **environment):
    # The config sets a default in the environment: undone after the test, with the rest.
    monkeypatch.delenv("DATABASE_CONN_MAX_AGE", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(config.gunicorn)


def test_the_image_serves_with_the_threaded_workers_of_the_config(monkeypatch):
    assert CMD[:4] == ["gunicorn", "config.wsgi:application", "--config", "python:config.gunicorn"]
    settings = reloaded(monkeypatch, WEB_CONCURRENCY="3", WEB_THREADS="4")
    assert (settings.worker_class, settings.workers, settings.threads) == ("gthread", 3, 4)


@pytest.mark.parametrize(("name", "value"), [("WEB_THREADS", "0"), ("WEB_CONCURRENCY", "two")])
def test_a_bad_worker_count_names_the_variable_and_what_is_allowed(monkeypatch, name, value):
    with pytest.raises(SystemExit, match=rf"{name}='{value}' is not allowed: expected a whole number"):
        reloaded(monkeypatch, **{name: value})
    monkeypatch.delenv(name)
    reloaded(monkeypatch)


def test_the_web_server_keeps_its_database_connections_unless_told_otherwise(monkeypatch):
    reloaded(monkeypatch)
    assert os.environ["DATABASE_CONN_MAX_AGE"] == "60"
    reloaded(monkeypatch, DATABASE_CONN_MAX_AGE="0")
    assert os.environ["DATABASE_CONN_MAX_AGE"] == "0"
