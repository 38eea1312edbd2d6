"""PodWarden's error tree → HTTP status codes and one JSON error shape."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from podwarden.engine.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    NotFoundError,
    PermanentServiceError,
    PermissionDenied,
    PodWardenError,
    ProtectedResourceError,
    TemporaryServiceError,
    ValidationError,
)

DEFAULT_RETRY_AFTER = 5

# Checked in order: subclasses before their parents.
STATUS: list[tuple[type[PodWardenError], int]] = [
    (ValidationError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (AuthenticationError, 401),
    (PermissionDenied, 403),
    (ProtectedResourceError, 423),
    (TemporaryServiceError, 503),
    (PermanentServiceError, 502),
    (ExternalServiceError, 502),
]


def status_for(exc: PodWardenError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_body(kind: str, message: str, errors: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": kind, "message": message, "errors": errors or {}, **extra}


def error_response(exc: PodWardenError) -> JSONResponse:
    status = status_for(exc)
    errors = exc.errors if isinstance(exc, ValidationError) else None
    headers: dict[str, str] = {}
    if isinstance(exc, TemporaryServiceError):
        retry = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
        headers["Retry-After"] = str(max(1, round(retry)))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(type(exc).__name__, str(exc), errors), status, headers=headers)


async def podwarden_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PodWardenError)
    return error_response(exc)


async def request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
    errors = {".".join(str(p) for p in e.get("loc", ())): str(e.get("msg", "")) for e in details}
    summary = "; ".join(f"{k}: {v}" for k, v in errors.items())
    return JSONResponse(
        error_body("ValidationError", f"The request is invalid: {summary}.", errors, detail=details), 422
    )
