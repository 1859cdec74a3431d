"""Health, readiness and the datasets this deployment can train on."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.queue import broker_reachable
from api.schemas import DatasetPublic, Health
from core.datasets import list_datasets
from core.db import schema_missing, session_scope
from core.settings import get_settings
from migrations import latest_revision

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Health}})
def readyz() -> JSONResponse:
    """The database and the broker are reachable; 503 when either is not."""
    try:
        with session_scope(get_settings().database_url) as session:
            revision = session.execute(
                text("SELECT version_num FROM alembic_version")
            ).scalar()
        database = (
            "ok"
            if revision == latest_revision()
            else f"at revision {revision}, not {latest_revision()}: "
            "run `trainjobs migrate`"
        )
    except Exception as exc:
        database = (
            "not migrated: run `trainjobs migrate`"
            if schema_missing(exc)
            else f"unreachable: {type(exc).__name__}"
        )
    broker = "ok" if broker_reachable() else "unreachable"

    ready = database == "ok" and broker == "ok"
    health = Health(
        status="ok" if ready else "unavailable", database=database, broker=broker
    )
    return JSONResponse(
        health.model_dump(),
        status_code=status.HTTP_200_OK
        if ready
        else status.HTTP_503_SERVICE_UNAVAILABLE,
    )


@router.get("/datasets")
def read_datasets() -> list[DatasetPublic]:
    """Every dataset on the search path, first match per name."""
    return [
        DatasetPublic(
            name=info.name,
            train_size=info.train_size,
            test_size=info.test_size,
            features=info.features,
            classes=info.num_classes,
            path=str(info.path),
            source=info.source,
        )
        for info in list_datasets(data_dirs=get_settings().data_dir_list)
    ]
