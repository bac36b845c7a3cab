"""Errors services raise; the API maps each to one HTTP status."""

from pydantic import ValidationError


class ServiceError(Exception):
    status = 400


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Unauthorized(ServiceError):
    status = 401


def invalid(exc: ValidationError) -> Invalid:
    """A pydantic error as one ``Invalid`` naming every field: ``field.sub: message; ...``."""
    return Invalid("; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()))
