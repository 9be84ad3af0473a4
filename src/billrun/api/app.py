"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from billrun import __version__


def create_app() -> FastAPI:
    app = FastAPI(title="billrun", version=__version__, openapi_url="/api/openapi.json", docs_url="/api/docs")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
