"""Who is calling: ``Authorization: Bearer pwm_…`` API tokens, or a short-lived JWT of a local user."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from datetime import timedelta

import jwt

from podwarden.engine.errors import AuthenticationError, ConflictError, NotFoundError
from podwarden.engine.security.rbac import Actor
from podwarden.engine.services.base import now
from podwarden.engine.services.secrets import SecretsService
from podwarden.engine.services.tokens import TOKEN_PREFIX, TokensService
from podwarden.engine.services.users import UsersService

JWT_SECRET_NAME = "api.jwt-signing-key"  # noqa: S105  (a secret's name)
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "podwarden"
JWT_LIFETIME = timedelta(minutes=15)


class Authenticator:
    """Turns an Authorization header into an :class:`Actor` (or AuthenticationError)."""

    def __init__(self, tokens: TokensService, users: UsersService, secrets_: SecretsService) -> None:
        self.tokens = tokens
        self.users = users
        self.secrets = secrets_
        self._key: bytes | None = None
        self._key_lock = asyncio.Lock()

    async def signing_key(self) -> bytes:
        """A random per-database key, kept sealed as a secret so every engine on the database shares it."""
        if self._key is not None:
            return self._key
        async with self._key_lock:
            if self._key is None:
                try:
                    value = await self.secrets.reveal(JWT_SECRET_NAME)
                except NotFoundError:
                    fresh = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
                    try:
                        async with self.secrets.db.unit_of_work() as uow:
                            await self.secrets.put(
                                uow,
                                JWT_SECRET_NAME,
                                fresh,
                                kind="jwt-key",
                                description="Signs API sign-ins",
                                replace=False,
                            )
                    except ConflictError:
                        pass  # another engine created it first: use theirs
                    value = await self.secrets.reveal(JWT_SECRET_NAME)
                self._key = base64.urlsafe_b64decode(value.reveal())
        return self._key

    async def login(self, username: str, password: str) -> tuple[str, int]:
        """Sign a local user in; returns a JWT and its lifetime in seconds."""
        actor = await self.users.authenticate(username, password)
        moment = now()
        claims = {
            "sub": str(actor.id),
            "name": actor.name,
            "iss": JWT_ISSUER,
            "iat": int(moment.timestamp()),
            "exp": int((moment + JWT_LIFETIME).timestamp()),
        }
        token = jwt.encode(claims, await self.signing_key(), algorithm=JWT_ALGORITHM)
        return token, int(JWT_LIFETIME.total_seconds())

    async def actor_for_header(self, header: str | None) -> Actor:
        if not header:
            raise AuthenticationError("Sign in: send 'Authorization: Bearer <API token or access token>'.")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationError("Use 'Authorization: Bearer <API token or access token>'.")
        if credential.startswith(TOKEN_PREFIX):
            return await self.tokens.authenticate_token(credential)
        try:
            claims = jwt.decode(
                credential,
                await self.signing_key(),
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
            user_id = uuid.UUID(str(claims["sub"]))
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("The access token expired; sign in again.") from exc
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise AuthenticationError("The access token is not valid.") from exc
        try:
            return await self.users.actor_for(user_id)
        except NotFoundError as exc:
            raise AuthenticationError("The user of this access token no longer exists.") from exc
