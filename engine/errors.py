"""The one exception tree of PodWarden.

Every error the engine raises on purpose is a :class:`PodWardenError`. Callers
(the desktop, the HTTP API, the CLI) show ``str(error)`` to a person and branch
on the *type*, never on the text::

    PodWardenError
    ├── ValidationError            input is wrong; ``errors`` maps field → message
    ├── NotFoundError              the thing asked for does not exist
    ├── ConflictError              someone else changed it first (stale version),
    │                              or it clashes with what exists (duplicate name)
    ├── PermissionDenied           the actor's role may not do this
    │   └── AuthenticationError    who you are could not be established
    ├── ProtectedResourceError     a protected host/cluster blocks a destructive step
    ├── ConfigurationError         settings, secret key, data folder or database
    │   └── SchemaTooNewError      the database was migrated by a newer PodWarden
    └── ExternalServiceError       an outside system failed (PostgreSQL, SSH, K8s…)
        ├── TemporaryServiceError  retrying later may work (timeouts, 5xx, 429)
        └── PermanentServiceError  retrying will not help (401/403, bad request)

Adapters translate library exceptions with ``raise ... from exc`` so the cause
stays attached for logs while the message stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping


class PodWardenError(Exception):
    """Root of every error PodWarden raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(PodWardenError):
    """Input failed validation. ``errors`` maps a field path to a message."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, str] = dict(errors or {})


class NotFoundError(PodWardenError):
    """The requested object does not exist (or is not visible to the actor)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!s} does not exist.")
        self.kind = kind
        self.key = key


class ConflictError(PodWardenError):
    """The write clashes with the current state: a stale version or a duplicate."""


class PermissionDenied(PodWardenError):
    """The actor's role does not allow the operation."""


class AuthenticationError(PermissionDenied):
    """Credentials are wrong, expired, revoked or locked out."""


class ProtectedResourceError(PodWardenError):
    """A destructive operation was refused because the target is protected."""


class ConfigurationError(PodWardenError):
    """Settings, the secret key, the data folder or the database are unusable."""


class SchemaTooNewError(ConfigurationError):
    """The database schema is newer than this version of PodWarden understands."""


class ExternalServiceError(PodWardenError):
    """An outside system (database, SSH host, cluster, SaaS API) failed.

    ``temporary`` tells whether trying again later may help.
    """

    temporary: bool = False

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service


class TemporaryServiceError(ExternalServiceError):
    """Timeouts, refused connections, 5xx and rate limits: retry later."""

    temporary = True

    def __init__(self, service: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(service, message)
        self.retry_after = retry_after


class PermanentServiceError(ExternalServiceError):
    """Rejected credentials, bad requests: retrying will not help."""

    temporary = False


__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "ExternalServiceError",
    "NotFoundError",
    "PermanentServiceError",
    "PermissionDenied",
    "PodWardenError",
    "ProtectedResourceError",
    "SchemaTooNewError",
    "TemporaryServiceError",
    "ValidationError",
]
