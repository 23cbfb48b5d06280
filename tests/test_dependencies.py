"""pyproject's runtime dependencies are what the service imports: tools live in extras."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {"pillow": "PIL", "pyyaml": "yaml", "pydantic-settings": "pydantic_settings", "argon2-cffi": "argon2"}
# Loaded by another package at run time, never imported by name here: SQLAlchemy's drivers,
# from_pretrained's loader, trafilatura's cleaner, Starlette's templates and form parser.
INDIRECT = {"aiosqlite", "psycopg", "accelerate", "lxml-html-clean", "jinja2", "python-multipart"}


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[\[=<>~ ]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]]


def imported_top_level_names() -> set[str]:
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.MULTILINE)
    return {
        name
        for package in ("serve_app", "deployments")
        for path in (ROOT / package).rglob("*.py")
        for name in pattern.findall(path.read_text())
    }


def test_every_runtime_dependency_is_imported_by_the_service_or_loaded_by_one_that_is():
    imported = imported_top_level_names()
    unused = [
        name
        for name in runtime_dependencies()
        if name not in INDIRECT and IMPORT_NAMES.get(name, name.replace("-", "_")) not in imported
    ]
    assert unused == [], f"move these to an extra (dev or bench): {unused}"


def test_load_and_profiling_tools_are_not_runtime_dependencies():
    assert not {"locust", "pyinstrument", "pytest"} & set(runtime_dependencies())
