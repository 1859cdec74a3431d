"""Dependencies shared by the routes."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from core.datasets import KNOWN_DATASETS, DatasetInfo, dataset_info, list_datasets
from core.errors import DatasetNotFound
from core.settings import get_settings
from core.spec import JobSpec, check_against_dataset

logger = logging.getLogger(__name__)


async def _database_url() -> str:
    # async: a sync dependency costs every request a hop to a worker thread.
    return get_settings().database_url


DatabaseUrl = Annotated[str, Depends(_database_url)]


def _require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type must be application/json, got {media_type or 'none'!r}",
        )


require_json = Depends(_require_json)

# Dataset headers are read from disk; a short cache spares every POST that.
_INFO_TTL_S = 30.0
_info_cache: dict[str, tuple[float, DatasetInfo]] = {}


def lookup_dataset(name: str) -> DatasetInfo:
    """The dataset's shape, from its file headers (cached for a few seconds).

    Raises:
        DatasetNotFound: no such dataset; the message names the ones there are
            rather than the server's folders, which are logged instead.
        DatasetError: the dataset's files are malformed.
    """
    cached = _info_cache.get(name)
    if cached is not None and time.monotonic() - cached[0] < _INFO_TTL_S:
        return cached[1]
    settings = get_settings()
    try:
        info = dataset_info(name, data_dirs=settings.data_dir_list)
    except DatasetNotFound as exc:
        logger.info("dataset not found", extra={"dataset": name, "error": str(exc)})
        available = [d.name for d in list_datasets(data_dirs=settings.data_dir_list)]
        message = f"{name!r} not found; available: {', '.join(available) or 'none'}"
        known = KNOWN_DATASETS.get(name)
        if known is not None:
            message += f"; to get it, {known.install_hint}"
        raise DatasetNotFound(message) from None
    _info_cache[name] = (time.monotonic(), info)
    return info


def check_dataset(spec: JobSpec) -> None:
    """Reject a spec that cannot run on its dataset, before it is stored."""
    info = lookup_dataset(spec.dataset)
    check_against_dataset(
        spec,
        features=info.features,
        classes=info.num_classes,
        train_size=info.train_size,
    )
