"""Error responses: every failure a client can cause becomes a 4xx JSON body.

Validation errors keep pydantic's location and add `field`, a dotted path
into the request without the union tags pydantic inserts, so a message reads
`optimizer.learning_rate: Input should be greater than 0, got -0.1`.

Messages are pydantic's where they already name the rule, with the offending
value appended; a few are reworded where pydantic's text describes its own
machinery rather than the rule (union tags, "Value error, ", "dictionary or
object to extract fields from"). A body that is not JSON at all is a 422 on
the field `body` too, whatever the parser tripped over, so clients meet one
error format for every kind of bad input.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import Conflict, DatasetError, NotFound, SpecError
from core.spec import field_path, stray_hyperparameter

logger = logging.getLogger(__name__)

# Labels pydantic puts in a location for a tagged union branch or a type
# alternative; they are not fields the client wrote.
MAX_ERRORS = 20
_MAX_MESSAGE = 300
_MAX_SHOWN_VALUE = 60

# What FastAPI answers when the JSON parser fails with anything other than a
# JSONDecodeError (bad UTF-8, nesting deeper than the recursion limit, an
# integer with thousands of digits).
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"

# Error types whose message already shows the value or for which the value
# adds nothing (a missing field has none; a 100,000-item list is noise).
_VALUE_NOT_SHOWN = {
    "missing",
    "extra_forbidden",
    "value_error",
    "assertion_error",
    "union_tag_invalid",
    "union_tag_not_found",
    "json_invalid",
    "too_long",
    "too_short",
    "string_too_long",
    "string_too_short",
}
_NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_.+-]{1,60}")


def show_value(value: Any) -> str:
    """A client's value, shortened: `-0.1`, `'0.1'`, `true`, `null`, `[1, 2]`.

    JSON words for literals and containers; strings quoted as pydantic's and
    our validators' messages quote them, with control characters escaped.
    """
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = type(value).__name__
    if len(text) > _MAX_SHOWN_VALUE:
        text = text[: _MAX_SHOWN_VALUE - 1] + "…"
    return text


def _json_safe(text: str) -> str:
    """Escape lone surrogates (from `"\\ud800"` in a request) so that the
    response encodes as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _position(document: Any, pos: int) -> str:
    if not isinstance(document, str):
        return f"at character {pos}"
    line = document.count("\n", 0, pos) + 1
    column = pos - document.rfind("\n", 0, pos)
    return f"at line {line} column {column}"


def _message(error: dict[str, Any], body: Any) -> str:
    """The rule broken, in words, with the value where that helps."""
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}

    if kind == "json_invalid":
        loc = error.get("loc", ())
        where = _position(body, loc[-1]) if loc and isinstance(loc[-1], int) else ""
        reason = str(ctx.get("error", "")).strip() or "cannot be parsed"
        return f"Invalid JSON: {reason} {where}".strip()
    if kind == "union_tag_invalid":
        # ctx["tag"] is the value as text (5 and "5" alike); show it as sent.
        given = error.get("input")
        discriminator = str(ctx.get("discriminator", "")).strip("'")
        shown = (
            show_value(given[discriminator])
            if isinstance(given, dict) and discriminator in given
            else repr(ctx.get("tag"))
        )
        return f"must be one of {ctx.get('expected_tags')}, got {shown}"
    if kind == "union_tag_not_found":
        return "Field required"
    loc = tuple(error.get("loc", ()))
    if kind == "extra_forbidden" and len(loc) == 4 and loc[1] == "optimizer":
        # ("body", "optimizer", "sgd", "momentum"): say what sgd does take.
        return stray_hyperparameter(str(loc[2]), str(loc[3]))
    if kind in _NOT_AN_OBJECT:
        message = "Input should be a JSON object"
    elif kind == "string_unicode":
        message = "Input should be valid unicode text (no lone surrogates)"
    elif kind == "missing" and tuple(error.get("loc", ())) == ("body",):
        return "Field required: send the request as a JSON object"

    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace(" after validation", "")
    # Our own validators already end with "got <value>".
    if kind not in _VALUE_NOT_SHOWN and "got " not in message and "input" in error:
        value = error["input"]
        loc = error.get("loc", ())
        # A path or query value is text by nature; quoting `-1` adds nothing.
        plain = (
            bool(loc)
            and loc[0] in {"path", "query"}
            and isinstance(value, str)
            and _PLAIN_TOKEN.fullmatch(value) is not None
        )
        message += f", got {value if plain else show_value(value)}"
    return message


def _field(error: dict[str, Any]) -> tuple[list[Any], str]:
    loc = list(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        # The parser's character offset is not a field; it goes into the message.
        return ["body"], "body"
    field = field_path(loc)
    if error.get("type") in {"union_tag_invalid", "union_tag_not_found"}:
        # The wrong value sits in the discriminator field, e.g. optimizer.name.
        discriminator = str((error.get("ctx") or {}).get("discriminator", ""))
        discriminator = discriminator.strip("'")
        if discriminator:
            loc.append(discriminator)
            field = f"{field}.{discriminator}" if field != "body" else discriminator
    return loc, field


def validation_detail(
    errors: Sequence[dict[str, Any]], body: Any = None
) -> list[dict[str, Any]]:
    """Pydantic errors as `{"loc", "field", "msg", "type"}` items for a 422.

    At most `MAX_ERRORS` are listed; a body with thousands of bad fields
    gets the first ones and a count, not a reply larger than itself.
    """
    detail = []
    for error in errors[:MAX_ERRORS]:
        loc, field = _field(error)
        message = _message(error, body)
        detail.append(
            {
                "loc": [_json_safe(p) if isinstance(p, str) else p for p in loc],
                "field": _json_safe(field),
                "msg": _json_safe(f"{field}: {message}"[:_MAX_MESSAGE]),
                "type": error.get("type", "value_error"),
            }
        )
    if len(errors) > MAX_ERRORS:
        detail.append(
            {
                "loc": ["body"],
                "field": "body",
                "msg": f"body: {len(errors) - MAX_ERRORS:,} more errors not listed",
                "type": "too_many_errors",
            }
        )
    return detail


def _unparsable_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a body, or None for any other HTTP error."""
    if exc.status_code != 400 or exc.detail != _FASTAPI_PARSE_ERROR:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"Invalid JSON: not UTF-8 text ({cause.reason} at byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "Invalid JSON: arrays or objects nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "Invalid JSON: a number has too many digits"
    return "Invalid JSON: the body cannot be parsed"


def query_error(field: str, message: str) -> HTTPException:
    """A 422 for a query parameter, shaped like a validation error."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [
            {
                "loc": ["query", field],
                "field": field,
                "msg": f"{field}: {message}",
                "type": "value_error",
            }
        ],
    )


def _json_error(code: int, detail: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail})


def _body_error(message: str, kind: str) -> JSONResponse:
    return _json_error(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["body"], "field": "body", "msg": f"body: {message}", "type": kind}],
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid_request(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        return _json_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            validation_detail(exc.errors(), exc.body),
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
        unparsable = _unparsable_body(exc)
        if unparsable is not None:
            return _body_error(unparsable, "json_invalid")
        response = _json_error(exc.status_code, exc.detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
