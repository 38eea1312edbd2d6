"""Tailscale API v2: list the devices of a tailnet.

PodWarden discovers machines through ``GET /api/v2/tailnet/{tailnet}/devices``.
Two ways to authenticate are supported (https://tailscale.com/api, "Authentication";
https://tailscale.com/kb/1215/oauth-clients):

- an API access token (``tskey-api-…``), sent as ``Authorization: Bearer <token>``;
- an OAuth client (client ID + ``tskey-client-…`` secret). The client exchanges it
  for a short-lived access token with the OAuth 2.0 client credentials grant at
  ``POST /api/v2/oauth/token``, keeps the token until shortly before its
  ``expires_in`` runs out (one hour at Tailscale), and fetches a new one once when
  the API answers 401 to a cached token.

Every failure leaves as a :class:`~podwarden.engine.errors.TemporaryServiceError`
(timeouts, refused connections, 429, 5xx) or a
:class:`~podwarden.engine.errors.PermanentServiceError` (rejected credentials,
unknown tailnet, malformed replies). Apart from the single OAuth token refresh the
client never retries: callers decide when to try again (``retry_after`` helps).
Messages never contain the API key, the OAuth secret or an access token.
"""

from __future__ import annotations

import asyncio
import gc
import math
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import IPv4Address, ip_address
from types import TracebackType
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import quote

import httpx
import msgspec
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from podwarden.engine.errors import ConfigurationError, PermanentServiceError, TemporaryServiceError

__all__ = ["DEFAULT_BASE_URL", "SERVICE", "TailscaleClient", "TailscaleDevice"]

SERVICE: Final = "tailscale"
DEFAULT_BASE_URL: Final = "https://api.tailscale.com"

_OAUTH_PATH: Final = "/api/v2/oauth/token"
_DEFAULT_TOKEN_LIFETIME: Final = 3600.0  # Tailscale's access tokens last one hour
_MAX_REFRESH_MARGIN: Final = 60.0  # renew this long before expiry (at most)
_MAX_DETAIL: Final = 200  # characters of a server's error message we quote
_MIN_REDACTED: Final = 8  # shortest credential worth searching for in a message
_USER_AGENT: Final = "PodWarden (Tailscale adapter)"

_Endpoint = Literal["devices", "token"]


class TailscaleDevice(msgspec.Struct, frozen=True, gc=False):
    """One machine of the tailnet, as the Tailscale API describes it.

    ``id`` is the stable ``nodeId`` when the API sends one, else the legacy
    numeric ``id`` (kept in ``legacy_id``). ``name`` is the MagicDNS FQDN,
    ``hostname`` the machine name. Times are timezone-aware UTC; ``last_seen`` is
    ``None`` when the API omits it (it does while a device is connected).
    ``connected_to_control`` is ``None`` when the API did not say.

    A frozen msgspec struct rather than a dataclass: building 10,000 of them costs
    ~3 ms instead of ~70 ms. ``gc=False`` is safe because it holds only strings,
    booleans, datetimes and lists of strings (no reference cycles).
    """

    id: str
    hostname: str
    name: str
    addresses: list[str]
    os: str
    client_version: str
    tags: list[str]
    last_seen: datetime | None
    connected_to_control: bool | None
    authorized: bool
    user: str
    legacy_id: str = ""
    is_external: bool = False
    update_available: bool | None = None
    key_expiry_disabled: bool = False
    expires: datetime | None = None

    @property
    def ipv4(self) -> str | None:
        """The first Tailscale IPv4 address (100.x.y.z), if any."""
        for address in self.addresses:
            try:
                if isinstance(ip_address(address), IPv4Address):
                    return address
            except ValueError:
                continue
        return None


# --- wire shapes (msgspec: strict types, unknown fields ignored) -----------------
#
# msgspec decodes the 12 MB ``?fields=all`` body of a 10,000-device tailnet in
# ~0.05 s, ten times faster than the pydantic models it replaced. ``gc=False``: the
# structs hold only strings, bools and lists of strings, so they can never be part
# of a reference cycle and the cyclic GC need not track (and rescan) 10,000 objects.
# Times stay strings here and go through pydantic's lax datetime parser in
# :func:`_wire_time`, exactly as before (RFC 3339 and the variants pydantic accepts).


class _WireDevice(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    addresses: list[str]
    node_id: str | None = None
    legacy_id: str | None = msgspec.field(default=None, name="id")
    hostname: str | None = None
    name: str | None = None
    os: str | None = None
    client_version: str | None = None
    tags: list[str] | None = None
    last_seen: str | None = None
    connected_to_control: bool | None = None
    authorized: bool | None = None
    user: str | None = None
    is_external: bool | None = None
    update_available: bool | None = None
    key_expiry_disabled: bool | None = None
    expires: str | None = None

    def __post_init__(self) -> None:
        if not (self.node_id or self.legacy_id):
            raise ValueError("the device has neither a nodeId nor an id")


class _WireDeviceList(msgspec.Struct, frozen=True, gc=False):
    devices: list[_WireDevice]


class _WireToken(msgspec.Struct, frozen=True, gc=False):
    access_token: Annotated[str, msgspec.Meta(min_length=1)]
    token_type: str | None = None
    expires_in: float | None = None


_DEVICE_LIST_DECODER: Final = msgspec.json.Decoder(_WireDeviceList)
_TOKEN_DECODER: Final = msgspec.json.Decoder(_WireToken)


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None or value.year <= 1:  # Go's zero time means "never"
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _MalformedError(ValueError):
    """A reply that decoded but does not make sense; the text is secret-free."""


_TIME: Final = TypeAdapter(datetime)


def _wire_time(value: str | None, index: int, field: str) -> datetime | None:
    """A device time as aware UTC; ``None`` for absent, ``""`` and Go's zero time.

    The API's usual ``YYYY-MM-DDTHH:MM:SSZ`` takes a fast path (``fromisoformat``
    reads that exact shape as pydantic does); anything else, and anything the fast
    path refuses, goes through pydantic's lax parser and its error message.
    """
    if not value:
        return None
    if len(value) == 20 and value[10] == "T" and value[19] == "Z" and value[0:4] != "0001":
        try:
            return datetime.fromisoformat(value)  # tzinfo is datetime.UTC already
        except ValueError:
            pass
    try:
        parsed = _TIME.validate_python(value)
    except PydanticValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        message = str(first["msg"])
        raise _MalformedError(f"devices.{index}.{field}: {message[:1].lower()}{message[1:]}") from exc
    return _aware_utc(parsed)


def _to_device(wire: _WireDevice, index: int) -> TailscaleDevice:
    # Positional arguments in field order and no copies of the lists (the wire struct
    # is thrown away): this runs 10,000 times per discovery of a large tailnet.
    last_seen, expires = wire.last_seen, wire.expires
    return TailscaleDevice(
        wire.node_id or wire.legacy_id or "",  # id
        wire.hostname or "",
        wire.name or "",
        wire.addresses,
        wire.os or "",
        wire.client_version or "",
        wire.tags or [],
        _wire_time(last_seen, index, "lastSeen") if last_seen else None,
        wire.connected_to_control,
        bool(wire.authorized),
        wire.user or "",
        wire.legacy_id or "",
        bool(wire.is_external),
        wire.update_available,
        bool(wire.key_expiry_disabled),
        _wire_time(expires, index, "expires") if expires else None,
    )


# --- helpers -------------------------------------------------------------------


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


_PATH_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_FIELD: Final = re.compile(r"Object missing required field `([^`]+)`")


def _describe_decode_error(exc: msgspec.DecodeError) -> str:
    """A short, secret-free description of the problem msgspec found.

    msgspec names the place as ``$.devices[0].nodeId``; it becomes ``devices.0.nodeId``
    (``top level`` for the document itself). Messages name types and field names,
    never values.
    """
    if not isinstance(exc, msgspec.ValidationError):
        return "it is not valid JSON"
    message, _, path = str(exc).partition(" - at `")
    parts = [name or number for name, number in _PATH_STEP.findall(path.rstrip("`").removeprefix("$"))]
    missing = _MISSING_FIELD.fullmatch(message)
    if missing:
        parts.append(missing.group(1))
        message = "field required"
    where = ".".join(parts) or "top level"
    message = message.replace("`", "")
    return f"{where}: {message[:1].lower()}{message[1:]}"


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g}"


class TailscaleClient:
    """Async client for the parts of Tailscale API v2 PodWarden uses.

    Give either ``api_key`` or both ``oauth_client_id`` and ``oauth_client_secret``.
    ``tailnet`` is ``"-"`` (the credential's own tailnet) or the organisation name.
    ``timeout`` (seconds) applies to connecting, sending, waiting for and reading
    each request (``Settings.timeouts.http_request`` is the usual source).
    ``transport`` replaces the network (tests). Use it as an async context
    manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        tailnet: str = "-",
        *,
        api_key: str | None = None,
        oauth_client_id: str | None = None,
        oauth_client_secret: str | None = None,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        uses_oauth = bool(oauth_client_id) or bool(oauth_client_secret)
        if api_key and uses_oauth:
            raise ConfigurationError(
                "Tailscale takes either an API key or an OAuth client, not both; remove one of them."
            )
        if not api_key and not uses_oauth:
            raise ConfigurationError("Tailscale needs an API key or an OAuth client ID and secret.")
        if uses_oauth and not (oauth_client_id and oauth_client_secret):
            raise ConfigurationError("A Tailscale OAuth client needs both its client ID and its secret.")
        if not tailnet or not tailnet.strip():
            raise ConfigurationError("The Tailscale tailnet name is empty; use '-' for the default tailnet.")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError("The Tailscale timeout must be a positive number of seconds.")
        url = httpx.URL(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(f"The Tailscale API address {base_url!r} is not an http(s) URL.")

        self._base_url = url
        self._host = url.host
        self._tailnet = tailnet.strip()
        self._api_key = api_key or None
        self._oauth_client_id = oauth_client_id or None
        self._oauth_client_secret = oauth_client_secret or None
        self._timeout_seconds = float(timeout)
        self._timeout = httpx.Timeout(self._timeout_seconds)
        self._token: str | None = None
        self._token_renew_at = 0.0  # time.monotonic() after which the token is renewed
        self._token_lock = asyncio.Lock()
        self._issued_tokens: list[str] = []  # redacted from every message
        self._client = httpx.AsyncClient(
            base_url=url,
            timeout=self._timeout,
            transport=transport,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
        )

    # --- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Safe to call more than once."""
        await self._client.aclose()

    @property
    def closed(self) -> bool:
        return self._client.is_closed

    @property
    def uses_oauth(self) -> bool:
        return self._api_key is None

    def __repr__(self) -> str:
        auth = "oauth-client" if self.uses_oauth else "api-key"
        return f"TailscaleClient(base_url={str(self._base_url)!r}, tailnet={self._tailnet!r}, auth={auth!r})"

    # --- API ---------------------------------------------------------------------

    async def list_devices(self) -> list[TailscaleDevice]:
        """All devices of the tailnet, with every field (``?fields=all``)."""
        path = f"/api/v2/tailnet/{quote(self._tailnet, safe='@')}/devices"
        response = await self._authorized_get(path, params={"fields": "all"})
        # No awaits in here, so pausing the cyclic GC affects nothing else: the
        # reply makes tens of thousands of lists, and each automatic collection
        # would rescan the whole heap (5x the parse time for 10,000 devices).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            reply = _DEVICE_LIST_DECODER.decode(response.content)
            return [_to_device(device, index) for index, device in enumerate(reply.devices)]
        except msgspec.DecodeError as exc:
            problem = _describe_decode_error(exc)
            cause: Exception = exc
        except _MalformedError as exc:
            problem = str(exc)
            cause = exc
        finally:
            if gc_was_enabled:
                gc.enable()
        raise PermanentServiceError(
            SERVICE, f"The Tailscale API's reply to the device list was malformed ({problem})."
        ) from cause

    # --- requests ------------------------------------------------------------------

    async def _authorized_get(self, path: str, params: dict[str, str]) -> httpx.Response:
        token = await self._access_token()
        response = await self._send("GET", path, params=params, headers=_bearer(token))
        if response.status_code == 401 and self.uses_oauth:
            # The cached token may have expired or been revoked early: renew it once.
            await self._forget_token(token)
            token = await self._access_token()
            response = await self._send("GET", path, params=params, headers=_bearer(token))
            if response.status_code == 401:
                raise PermanentServiceError(
                    SERVICE,
                    "The Tailscale API rejected a freshly issued OAuth access token (HTTP 401); "
                    "check the OAuth client and its scopes (devices:core:read).",
                )
        self._check_status(response, "devices")
        return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self._client.request(
                method, path, params=params, headers=headers, data=data, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            limit = f"the {_format_seconds(self._timeout_seconds)}-second timeout"
            if isinstance(exc, httpx.ConnectTimeout):
                text = f"Could not connect to the Tailscale API at {self._host} within {limit}."
            else:
                text = f"The Tailscale API at {self._host} did not answer within {limit}."
            raise TemporaryServiceError(SERVICE, text) from exc
        except httpx.DecodingError as exc:
            raise PermanentServiceError(
                SERVICE, f"The Tailscale API's reply from {self._host} was malformed (undecodable body)."
            ) from exc
        except httpx.TransportError as exc:
            reason = self._redact(str(exc).strip() or type(exc).__name__)[:_MAX_DETAIL]
            raise TemporaryServiceError(
                SERVICE, f"Could not reach the Tailscale API at {self._host} ({reason}); check the network."
            ) from exc
        except httpx.RequestError as exc:
            raise TemporaryServiceError(
                SERVICE, f"The request to the Tailscale API at {self._host} failed ({type(exc).__name__})."
            ) from exc

    # --- OAuth ---------------------------------------------------------------------

    async def _access_token(self) -> str:
        if self._api_key is not None:
            return self._api_key
        async with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_renew_at:
                return self._token
            return await self._fetch_token()

    async def _forget_token(self, token: str) -> None:
        async with self._token_lock:
            if self._token == token:  # another task may have renewed it already
                self._token = None

    async def _fetch_token(self) -> str:
        assert self._oauth_client_id is not None
        assert self._oauth_client_secret is not None
        asked_at = time.monotonic()
        response = await self._send(
            "POST",
            _OAUTH_PATH,
            data={
                "client_id": self._oauth_client_id,
                "client_secret": self._oauth_client_secret,
                "grant_type": "client_credentials",
            },
        )
        self._check_status(response, "token")
        try:
            reply = _TOKEN_DECODER.decode(response.content)
        except msgspec.DecodeError as exc:
            raise PermanentServiceError(
                SERVICE,
                f"The Tailscale OAuth token endpoint's reply was malformed ({_describe_decode_error(exc)}).",
            ) from exc
        lifetime = reply.expires_in
        if lifetime is None or not math.isfinite(lifetime) or lifetime <= 0:
            lifetime = _DEFAULT_TOKEN_LIFETIME
        self._token = reply.access_token
        self._token_renew_at = asked_at + lifetime - min(_MAX_REFRESH_MARGIN, lifetime / 10)
        self._issued_tokens.append(reply.access_token)
        del self._issued_tokens[:-8]
        return reply.access_token

    # --- errors --------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Replace any credential that shows up in ``text`` (from a server or a library)."""
        for secret in (self._api_key, self._oauth_client_secret, *self._issued_tokens):
            # Real keys are long; replacing a very short one would only mangle the text.
            if secret and len(secret) >= _MIN_REDACTED:
                text = text.replace(secret, "[redacted]")
        return text

    def _server_detail(self, response: httpx.Response) -> str:
        """The server's own explanation (``message`` / OAuth ``error``), shortened and redacted."""
        try:
            body: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            return ""
        if not isinstance(body, dict):
            return ""
        parts = [body.get(key) for key in ("message", "error", "error_description")]
        text = ": ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
        text = " ".join(self._redact(text).split()).rstrip(" .;")
        if len(text) > _MAX_DETAIL:
            text = text[: _MAX_DETAIL - 1].rstrip() + "…"
        return text

    def _check_status(self, response: httpx.Response, endpoint: _Endpoint) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = self._server_detail(response)
        http = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status == 429 or status == 408 or status >= 500:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            when = f"try again in {retry_after:.0f} seconds" if retry_after is not None else "try again later"
            if status == 429:
                text = f"The Tailscale API is rate-limiting PodWarden ({http}); {when}."
            elif status == 408:
                text = f"The Tailscale API gave up waiting for the request ({http}); {when}."
            else:
                text = f"The Tailscale API had a server error ({http}); {when}."
            raise TemporaryServiceError(SERVICE, text, retry_after=retry_after)
        if endpoint == "token":
            if status in (400, 401, 403):
                text = (
                    f"The Tailscale OAuth token endpoint rejected the OAuth client ({http}); "
                    "check the OAuth client ID and secret."
                )
            else:
                text = f"The Tailscale OAuth token endpoint answered unexpectedly ({http})."
            raise PermanentServiceError(SERVICE, text)
        credential = "OAuth client" if self.uses_oauth else "API key"
        if status == 401:
            text = (
                f"The Tailscale API rejected the {credential} ({http}); "
                "check the API key / OAuth client: it may be wrong, expired or revoked."
            )
        elif status == 403:
            text = (
                f"The Tailscale API refused access to the device list ({http}); check that the "
                "API key / OAuth client may read devices (scope devices:core:read)."
            )
        elif status == 404:
            text = (
                f"The Tailscale API does not know the tailnet {self._tailnet!r} ({http}); "
                "check the tailnet name, or use '-' for the credential's own tailnet."
            )
        elif 400 <= status < 500:
            text = f"The Tailscale API rejected the device list request ({http})."
        else:
            text = f"The Tailscale API answered the device list request unexpectedly ({http})."
        raise PermanentServiceError(SERVICE, text)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
