"""The transport shell: HTTP/1.1 with h11 and WebSockets with wsproto, over trio streams.

One TCP connection is served by `serve_connection`: h11 parses requests (keep-alive, chunked bodies); a
request that asks for a WebSocket upgrade on a path ending in `/realtime` is handed to wsproto
(`initiate_upgrade_connection`, the documented h11 → wsproto hand-off) and then to the realtime handler
with a `WebSocketChannel`; every other request gets the HTTP handler's answer. No header is ever logged
(the Authorization header carries an API key).

`WebSocketChannel` owns the wsproto state. Everything written to the socket goes through one writer task,
in the order it was queued, so events leave in exactly the order the core produced them; pings are
answered from the reader. `abort` drops the TCP connection without a close frame (a simulated network
failure) at once; `drop` does the same once everything queued before it has been written (the client has
seen the event the drop follows). An `admit` hook may refuse an upgrade with an HTTP status (a server that
refuses reconnections).
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
import h11
import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

RECEIVE_BYTES = 256 * 1024


@attrs.frozen
class Oversized:
    """A client message longer than the channel's limit: read and thrown away, reported instead of closing."""

    size: int
    limit: int


@attrs.frozen
class HttpRequest:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@attrs.frozen
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    # For server-sent events: the body is produced by this async iterator instead.
    stream: Callable[[], AsyncIterator[bytes]] | None = None


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class WebSocketChannel:
    """A server-side WebSocket on a trio stream (see the module docstring)."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection, max_message_bytes: int) -> None:
        self._stream = stream
        self._ws = ws
        self._max_message_bytes = max_message_bytes
        # None in the queue: drop the connection there (see `drop`)
        self._out_send, self._out_receive = trio.open_memory_channel[bytes | None](math.inf)
        self.aborted = False
        self.dropping = False

    @property
    def open(self) -> bool:
        return self._ws.state is ConnectionState.OPEN and not self.aborted and not self.dropping

    def _queue(self, data: bytes | None) -> None:
        try:
            self._out_send.send_nowait(data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    def send_text(self, text: str) -> None:
        if self.open:
            self._queue(self._ws.send(Message(data=text)))

    def close(self, code: int, reason: str = "") -> None:
        if self.open:
            self._queue(self._ws.send(CloseConnection(code=code, reason=reason)))

    def drop(self) -> None:
        """Drop the TCP connection (no close frame) once what is queued so far is written; send nothing more."""
        if self.open:
            self.dropping = True
            self._queue(None)

    def finish_writing(self) -> None:
        self._out_send.close()

    async def writer(self) -> None:
        """Send queued bytes in order until `finish_writing` (or the socket breaks, or a queued drop)."""
        with self._out_receive:
            async for data in self._out_receive:
                if data is None:
                    await self.abort()
                    return
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame (RST), like a network failure."""
        self.aborted = True
        try:
            self._stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        await self._stream.aclose()

    async def messages(self) -> AsyncIterator[str | bytes | Oversized]:
        """Complete client messages until the peer closes (or the socket breaks).

        A message over `max_message_bytes` is not buffered: its remaining fragments are read and dropped,
        then `Oversized` stands in for it, so the session answers with an `error` event and goes on (the
        real service keeps the session open for errors a client causes; its exact size limit is not
        documented beyond 15 MiB of audio per append [SDK]). A WebSocket protocol violation (a bad frame,
        invalid UTF-8 in a text message) is answered, as RFC 6455 §7.1.7 requires, with a close frame
        carrying wsproto's code (1002, 1007) before the connection ends.
        """
        parts: list[str | bytes] = []
        size = 0
        discarding = False
        while True:
            try:
                data = await self._stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            try:
                self._ws.receive_data(data or None)
            except RemoteProtocolError:
                return
            for event in self._ws.events():
                if isinstance(event, Message):
                    size += len(event.data)
                    if not discarding and size > self._max_message_bytes:
                        discarding, parts = True, []
                    if not discarding:
                        parts.append(event.data)
                    if event.message_finished:
                        message: str | bytes | Oversized
                        if discarding:
                            message = Oversized(size=size, limit=self._max_message_bytes)
                        elif isinstance(event, TextMessage):
                            message = "".join(str(p) for p in parts)
                        else:
                            assert isinstance(event, BytesMessage)
                            message = b"".join(p for p in parts if isinstance(p, bytes))
                        parts, size, discarding = [], 0, False
                        yield message
                elif isinstance(event, Ping):
                    self._queue(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        self._queue(self._ws.send(event.response()))
                    elif self._ws.state is ConnectionState.OPEN:  # wsproto refused a frame (ParseFailed)
                        self.close(event.code, (event.reason or "")[:120])
                    return
            if not data:
                return


RealtimeHandler = Callable[[WebSocketChannel, HttpRequest], Awaitable[None]]
# Decides on an upgrade before it is accepted: None admits it, else (HTTP status, JSON body) refuses it.
Admission = Callable[[HttpRequest], tuple[int, bytes] | None]


def _is_websocket_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    values = {name.lower(): value.lower() for name, value in headers}
    return values.get(b"upgrade") == b"websocket"


async def _next_event(conn: h11.Connection, stream: trio.SocketStream) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some(RECEIVE_BYTES))


async def _send_response(conn: h11.Connection, stream: trio.SocketStream, response: HttpResponse) -> None:
    headers = [("content-type", response.content_type), ("server", "rtpipe")]
    if response.stream is None:
        headers.append(("content-length", str(len(response.body))))
    await stream.send_all(conn.send(h11.Response(status_code=response.status, headers=headers)))
    if response.stream is not None:
        async for chunk in response.stream():
            await stream.send_all(conn.send(h11.Data(data=chunk)))
    elif response.body:
        await stream.send_all(conn.send(h11.Data(data=response.body)))
    await stream.send_all(conn.send(h11.EndOfMessage()))


async def _upgrade(
    conn: h11.Connection,
    stream: trio.SocketStream,
    request: HttpRequest,
    realtime: RealtimeHandler,
    max_message_bytes: int,
    admit: Admission | None = None,
) -> None:
    while (event := await _next_event(conn, stream)) is not h11.PAUSED:
        if isinstance(event, h11.ConnectionClosed):
            return
    trailing, _closed = conn.trailing_data
    ws = WSConnection(ConnectionType.SERVER)
    try:
        ws.initiate_upgrade_connection(request.headers, request.target)
        if trailing:
            ws.receive_data(trailing)
        handshake = next(ws.events())
    except (RemoteProtocolError, StopIteration):
        await stream.send_all(ws.send(RejectConnection(status_code=400)) if ws.state is ConnectionState.CONNECTING else b"")
        return
    assert isinstance(handshake, Request)
    refusal = admit(request) if admit is not None else None
    if refusal is not None:
        status, body = refusal
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await stream.send_all(ws.send(RejectConnection(status_code=status, headers=headers, has_body=True)))
        await stream.send_all(ws.send(RejectData(data=body)))
        return
    subprotocol = "realtime" if "realtime" in handshake.subprotocols else None
    await stream.send_all(ws.send(AcceptConnection(subprotocol=subprotocol)))
    await realtime(WebSocketChannel(stream, ws, max_message_bytes), request)


async def serve_connection(
    stream: trio.SocketStream,
    *,
    http: HttpHandler,
    realtime: RealtimeHandler,
    max_message_bytes: int,
    admit: Admission | None = None,
) -> None:
    """Serve one TCP connection: HTTP requests (keep-alive) until it closes or becomes a WebSocket."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    async with stream:
        while True:
            try:
                event = await _next_event(conn, stream)
            except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                continue
            request = HttpRequest(
                method=event.method.decode(), target=event.target.decode(), headers=list(event.headers), body=b""
            )
            if _is_websocket_upgrade(request.headers) and request.path.rstrip("/").endswith("/realtime"):
                await _upgrade(conn, stream, request, realtime, max_message_bytes, admit)
                return
            body = bytearray()
            while True:
                try:
                    part = await _next_event(conn, stream)
                except (h11.RemoteProtocolError, trio.BrokenResourceError):
                    return
                if isinstance(part, h11.Data):
                    body += part.data
                elif isinstance(part, h11.EndOfMessage) or part is h11.PAUSED:
                    break
                elif isinstance(part, h11.ConnectionClosed):
                    return
            response = await http(attrs.evolve(request, body=bytes(body)))
            try:
                await _send_response(conn, stream, response)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return
