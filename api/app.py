"""The FastAPI application: `uvicorn api.app:app` or `trainjobs api`."""

from __future__ import annotations

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import BodySizeLimit
from api.routes import compare, dashboard, events, jobs, sweeps, system
from core.settings import get_settings


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="trainjobs",
        summary="Train small NumPy networks with the optimizer of your choice "
        "and compare the runs.",
        version="0.1.0",
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(jobs.router)
    app.include_router(events.router)
    app.include_router(compare.router)
    app.include_router(sweeps.router)
    app.include_router(dashboard.router)
    return app


app = create_app()
