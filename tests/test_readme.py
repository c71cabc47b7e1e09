"""README names real files: every path it writes in backticks exists in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = (
    "api",
    "desk",
    "scheduler",
    "reminders",
    "invoicing",
    "common",
    "config",
    "tests",
    "docs",
    "benchmarks",
)
# `reminders/selectors.py::ReminderPlan` names a file and something in it; `tests/<app>/` is a pattern.
PATH = re.compile(r"`((?:" + "|".join(TOP) + r")/[^`\s<>]*)`")


def readme_paths() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return sorted({match.split("::")[0] for match in PATH.findall(text)})


def test_readme_names_paths():
    assert len(readme_paths()) > 50


def test_every_path_readme_names_exists():
    missing = [path for path in readme_paths() if not (ROOT / path).exists()]
    assert missing == []


def test_the_where_to_add_recipes_name_files():
    text = (ROOT / "README.md").read_text()
    recipes = text[text.index("### Where to add…") : text.index("### Words")]
    for recipe in ("A new channel", "A new kind of threshold", "A new API endpoint"):
        part = recipes[recipes.index(recipe) :].split("\n- ")[0]
        named = [path for path in PATH.findall(part) if (ROOT / path).is_file()]
        assert len(named) >= 3, (recipe, named)
