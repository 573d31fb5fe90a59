"""The Realtime WebSocket: where to connect, and opening it with one clear line when that fails.

``resolve_endpoint(server, model, api_key)`` turns the ``--server`` choice into an ``Endpoint``:

- ``"auto"``: OpenAI (``wss://api.openai.com/v1/realtime?model=…`` with ``Authorization: Bearer <key>``)
  when a key is given, otherwise the embedded server (kind ``"local"``);
- ``"local"``: the embedded server. Its port is only known once it runs, so the endpoint has no URL yet: the
  caller starts ``pipeline.server.serve`` and calls ``endpoint.at(handle.realtime_url)``;
- ``ws://`` / ``wss://`` URLs are used as they are (``model=`` is added to the query when missing);
- ``http(s)://…`` bases (``OPENAI_BASE_URL`` style) are converted the way the openai SDK does it: ``http`` →
  ``ws``, anything else → ``wss``, path with trailing slashes stripped plus ``/realtime``, ``model=`` query.

GA protocol only: no ``OpenAI-Beta`` header (sending one selects the beta protocol). The API key travels in
one place, the ``Authorization`` header of the upgrade request; ``Endpoint``'s repr and ``describe()``
redact it, and ``ConnectionFailed`` messages never contain it (nor the URL's query string).

``connect(endpoint)`` is an async context manager yielding a ``trio_websocket.WebSocketConnection`` sized for
the protocol's largest frames (15 MiB appends, retrieved items with their audio). Failing to connect
(refused, unknown host, TLS, handshake rejected with an HTTP status, timeout) raises ``ConnectionFailed``
whose ``str`` is one line saying what happened and what to do (``status``/``fatal``: an HTTP 401 or 403 that
no retry can fix). ``close(ws)`` closes the socket and marks it
as closed by us, so the router can journal who closed it (``closed_by_us(ws)``).
"""

from __future__ import annotations

import contextlib
import errno
import math
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import trio
import trio_websocket

from pipeline.clock import hold

OPENAI_REALTIME_BASE = "https://api.openai.com/v1"
# One append may carry 15 MiB of base64; a retrieved item carries its whole audio. Sizes are in characters
# of the decoded text frame (trio-websocket compares ``len(message)``), so leave generous headroom.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# The reader task buffers this many messages ahead of the router (audio deltas come in bursts).
MESSAGE_QUEUE_SIZE = 64
RECEIVE_BUFFER_SIZE = 64 * 1024
DISCONNECT_TIMEOUT_S = 2.0
_CLOSED_BY_US_ATTR = "_rtpipe_closed_by_us"

EndpointKind = Literal["openai", "local", "custom"]


# HTTP statuses of a rejected handshake that no retry can fix (authentication, permission): a reconnect gives up
FATAL_STATUSES = frozenset({401, 403})


class ConnectionFailed(Exception):
    """The Realtime WebSocket could not be opened. ``str(exc)`` is one line, free of secrets; ``status`` is
    the HTTP status when the server rejected the handshake."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def fatal(self) -> bool:
        """Trying again cannot help (the key is wrong or lacks access)."""
        return self.status in FATAL_STATUSES


def _redacted_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, "<redacted>" if k.lower() == "authorization" else v) for k, v in headers)


@attrs.frozen(kw_only=True, repr=False)
class Endpoint:
    """Where the session connects. ``url`` is empty for a ``local`` endpoint until ``at()`` gives it one."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    kind: EndpointKind = "custom"
    model: str = "gpt-realtime"

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, headers={_redacted_headers(self.headers)!r}, kind={self.kind!r})"

    __str__ = __repr__

    @property
    def needs_local_server(self) -> bool:
        return self.kind == "local" and not self.url

    def at(self, realtime_url: str) -> Endpoint:
        """The local endpoint once the embedded server runs (``handle.realtime_url``)."""
        return attrs.evolve(self, url=with_model(realtime_url, self.model))

    def describe(self) -> str:
        """Loggable one-liner: scheme, host, port and path only (no query, no headers)."""
        return display_url(self.url) if self.url else "the embedded server (not started yet)"


def with_model(url: str, model: str) -> str:
    """``url`` with ``model=`` in its query unless it already names one (or a ``call_id``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k in ("model", "call_id") for k, _ in query):
        return url
    query.append(("model", model))
    return urlunsplit(parts._replace(query=urlencode(query)))


def websocket_url_from_base(base_url: str, model: str) -> str:
    """The openai SDK's conversion of a REST base (``https://host/v1``) into the realtime socket URL."""
    parts = urlsplit(base_url)
    scheme = "ws" if parts.scheme == "http" else "wss"
    path = parts.path.rstrip("/") + "/realtime"
    return with_model(urlunsplit((scheme, parts.netloc, path, parts.query, "")), model)


def resolve_endpoint(server: str, model: str, api_key: str | None, *, base_url: str | None = None) -> Endpoint:
    """Turn ``--server`` (``auto`` | ``local`` | URL) into an endpoint. ``base_url`` is ``OPENAI_BASE_URL``,
    used by ``auto`` when a key is given. Raises ``ValueError`` (one line) for anything else."""
    choice = server.strip()
    auth = (("Authorization", f"Bearer {api_key}"),) if api_key else ()
    if choice == "auto":
        if not api_key:
            return Endpoint(url="", kind="local", model=model)
        url = websocket_url_from_base(base_url or OPENAI_REALTIME_BASE, model)
        return Endpoint(url=url, headers=auth, kind="openai" if not base_url else "custom", model=model)
    if choice == "local":
        return Endpoint(url="", kind="local", model=model)
    scheme = urlsplit(choice).scheme.lower()
    if scheme in ("ws", "wss"):
        return Endpoint(url=with_model(choice, model), headers=auth, kind="custom", model=model)
    if scheme in ("http", "https"):
        return Endpoint(url=websocket_url_from_base(choice, model), headers=auth, kind="custom", model=model)
    raise ValueError(f"--server must be auto, local, or a ws://, wss://, http:// or https:// URL, not {server!r}")


def display_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _os_error_text(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "host not found (check the server address)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, OSError):
        if exc.errno == errno.ECONNREFUSED:
            return "connection refused (is the server running?)"
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable"
        lines = str(exc).strip().splitlines()
        text = exc.strerror or (lines[0] if lines else "")
        return text.lower() if text else type(exc).__name__
    return type(exc).__name__


def _rejected_text(status: int) -> str:
    hint = {
        401: " (check OPENAI_API_KEY)",
        403: " (the key may not have Realtime access)",
        404: " (no Realtime endpoint at this path)",
        429: " (rate limited or out of quota)",
    }.get(status, "")
    return f"handshake rejected with HTTP {status}{hint}"


def _root_cause(exc: BaseException) -> BaseException:
    """The most specific error behind a handshake failure (trio wraps per-address errors in a group)."""
    seen = 0
    while seen < 10:
        seen += 1
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            break
    return exc


def describe_failure(url: str, exc: BaseException, connect_timeout_s: float) -> str:
    """One line for a failed connection attempt; never includes headers or the query string."""
    where = display_url(url)
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return f"cannot connect to {where}: {_rejected_text(exc.status_code)}"
    if isinstance(exc, trio_websocket.ConnectionTimeout | trio.TooSlowError):
        return f"cannot reach {where}: no answer within {connect_timeout_s:g} s"
    cause = _root_cause(exc)
    if isinstance(cause, OSError):
        return f"cannot reach {where}: {_os_error_text(cause)}"
    return f"cannot connect to {where}: {type(cause).__name__}"


_CONNECT_ERRORS = (trio_websocket.HandshakeError, OSError, trio.TooSlowError)


@asynccontextmanager
async def connect(
    endpoint: Endpoint, *, connect_timeout_s: float = 10.0
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """Open the Realtime WebSocket; close it on exit. Raises ``ConnectionFailed`` if it cannot be opened."""
    if not endpoint.url:
        raise ConnectionFailed("no server URL: start the embedded server and use endpoint.at(realtime_url)")
    parts = urlsplit(endpoint.url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConnectionFailed(f"cannot connect to {display_url(endpoint.url)}: not a ws:// or wss:// URL")
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in endpoint.headers]
    entered = False
    body_done = False
    # trio-websocket's own connect_timeout does not fire when the TCP connection opens but the server never
    # answers the upgrade (its reader task keeps the nursery open), so the deadline is ours, lifted once open.
    # Simulated time (pipeline.clock) stands still while the handshake is under way: its timeout must not be
    # the next deadline the clock jumps to between two loopback packets.
    with contextlib.ExitStack() as holding, trio.CancelScope(deadline=trio.current_time() + connect_timeout_s) as opening:
        holding.enter_context(hold())
        try:
            async with trio_websocket.open_websocket_url(
                endpoint.url,
                extra_headers=headers,
                message_queue_size=MESSAGE_QUEUE_SIZE,
                max_message_size=MAX_MESSAGE_SIZE,
                receive_buffer_size=RECEIVE_BUFFER_SIZE,
                connect_timeout=connect_timeout_s,
                disconnect_timeout=DISCONNECT_TIMEOUT_S,
            ) as ws:
                entered = True
                opening.deadline = math.inf
                holding.close()
                yield ws
                body_done = True
                setattr(ws, _CLOSED_BY_US_ATTR, True)
        except _CONNECT_ERRORS as exc:
            if not entered:
                status = exc.status_code if isinstance(exc, trio_websocket.ConnectionRejected) else None
                raise ConnectionFailed(describe_failure(endpoint.url, exc, connect_timeout_s), status=status) from None
            if body_done and isinstance(exc, trio_websocket.DisconnectionTimeout):
                return  # the server did not answer our close; the socket is closed anyway
            raise
    if opening.cancelled_caught and not entered:
        raise ConnectionFailed(f"cannot reach {display_url(endpoint.url)}: no answer within {connect_timeout_s:g} s")


open_connection = connect


async def close(ws: trio_websocket.WebSocketConnection, code: int = 1000, reason: str = "") -> None:
    """Close the socket from our side (idempotent); the router then reports ``by_us=True``."""
    setattr(ws, _CLOSED_BY_US_ATTR, True)
    with trio.move_on_after(DISCONNECT_TIMEOUT_S, shield=True):
        await ws.aclose(code, reason or None)


def closed_by_us(ws: object) -> bool:
    return bool(getattr(ws, _CLOSED_BY_US_ATTR, False))
