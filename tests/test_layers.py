"""The import-linter contract `make lint` enforces: the five layers, and config wired in by no app."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["api", "desk", "scheduler", "reminders", "invoicing", "common"]


def contracts() -> dict[str, dict]:
    linter = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["type"]: contract for contract in linter["contracts"]}


def test_the_apps_are_layered_interfaces_on_top_and_common_at_the_bottom():
    assert contracts()["layers"]["layers"] == ["api | desk", "scheduler", "reminders", "invoicing", "common"]


def test_no_app_imports_config():
    forbidden = contracts()["forbidden"]
    assert (sorted(forbidden["source_modules"]), forbidden["forbidden_modules"]) == (sorted(APPS), ["config"])


def test_every_app_is_under_the_contract_and_mypy():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    installed = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert installed == set(APPS)
    assert set(pyproject["importlinter"]["root_packages"]) == {*APPS, "config"}
    assert set(pyproject["mypy"]["files"]) == {*APPS, "config"}
