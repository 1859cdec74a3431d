"""Error responses: every failure a client can cause becomes a 4xx JSON body.

Validation errors keep pydantic's location and add `field`, a dotted path
into the request without the union tags pydantic inserts, so a message reads
`optimizer.learning_rate: Input should be greater than 0`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Conflict, DatasetError, NotFound, SpecError
from core.spec import OPTIMIZER_NAMES

logger = logging.getLogger(__name__)

# Labels pydantic puts in a location for a tagged union branch or a type
# alternative; they are not fields the client wrote.
_UNION_LABELS = set(OPTIMIZER_NAMES) | {"constant", "step", "cosine"}
_MAX_MESSAGE = 300


def field_path(loc: Sequence[Any]) -> str:
    """`("body", "optimizer", "adam", "learning_rate")` -> "optimizer.learning_rate"."""
    parts = []
    for index, part in enumerate(loc):
        if index == 0 and part in {"body", "query", "path", "header"}:
            continue
        if isinstance(part, str) and (
            (
                part in _UNION_LABELS
                and index > 0
                and loc[index - 1] in {"optimizer", "schedule"}
            )
            or part.startswith(("constrained-", "literal[", "function-"))
        ):
            continue
        parts.append(str(part))
    return ".".join(parts) or str(loc[0] if loc else "body")


def validation_detail(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    detail = []
    for error in errors:
        field = field_path(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))[:_MAX_MESSAGE]
        detail.append(
            {
                "loc": list(error.get("loc", ())),
                "field": field,
                "msg": f"{field}: {message}",
                "type": error.get("type", "value_error"),
            }
        )
    return detail


def _json_error(code: int, detail: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        return _json_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT, validation_detail(exc.errors())
        )

    @app.exception_handler(SpecError)
    async def _invalid_spec(request: Request, exc: SpecError) -> JSONResponse:
        field = ".".join(str(part) for part in exc.loc)
        return _json_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", *exc.loc],
                    "field": field,
                    "msg": f"{field}: {exc.message}",
                    "type": "spec_error",
                }
            ],
        )

    @app.exception_handler(DatasetError)
    async def _bad_dataset(request: Request, exc: DatasetError) -> JSONResponse:
        return _json_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", "dataset"],
                    "field": "dataset",
                    "msg": f"dataset: {exc}",
                    "type": "dataset_error",
                }
            ],
        )

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _json_error(status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return _json_error(status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(
        request: Request, exc: StarletteHTTPException
    ) -> JSONResponse:
        response = _json_error(exc.status_code, exc.detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
