"""The web console at `/`: server-rendered pages over the same services the API uses."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from serve_app.web import docs
from serve_app.web.routes import admin, auth, hero, keys, pages, playground, projects

STATIC_DIR = Path(__file__).parent / "static"


def mount_console(app: FastAPI) -> None:
    """Adds the console's pages, its static files and the self-hosted API docs to `app`
    (created with `docs_url=None, redoc_url=None`)."""
    for module in (auth, pages, keys, playground, projects, hero, admin, docs):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
