"""The trio shell: listens, routes HTTP, and drives one `RealtimeCore` per WebSocket.

Per WebSocket (`RealtimeApp.realtime`): a writer task drains the send queue; the reader loop feeds each
client frame to the core; the effects it returns become tasks in the connection's work nursery (ASR and
TTS in worker threads bounded by a shared limiter, response streaming with a small pause between chunks
so cancels and barge-ins land mid-response, transcript delivery after its delay), plus the timers of the
session limit and of the drop-socket fault.

Faults for the reconnect tests (``ServerConfig``): ``drop_socket_after_s`` drops every connection (TCP reset,
no close frame: the client sees 1006) that long after it opens, so a reconnected client is dropped again;
``drop_socket_on`` drops the connection open at a moment of the conversation (the N-th tool call, the middle
of the N-th audio item, the N-th response), counted over the whole server so each fires once, after the
events before it have been written; ``refuse_connections_after`` answers upgrades after N accepted
WebSockets with HTTP 503.

Service latencies are modelled in session time (``ServerConfig``): the words of a commit are known
``recognition_ms`` after it, the first audio delta of a response goes out ``first_audio_ms`` after synthesis
starts, and the deltas follow each other every ``pacing_ms``. The real work (ASR, TTS) runs in worker threads; on a
simulated clock (``pipeline.clock``, ``rtpipe run --fast``) session time runs on meanwhile but cannot pass the
modelled moment until the work is done, so the conversation is the one a real-time run holds. When the client closes, the work is cancelled, the queue is
drained (bounded), and the socket closed. The core decides; this module only waits and moves bytes.
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import trio

from pipeline.clock import run_sync_held
from pipeline.server.chat import completion, error_body, sse_chunks
from pipeline.server.config import DropPoint, ServerConfig
from pipeline.server.connection import CoreConfig, RealtimeCore
from pipeline.server.effects import Close, Output, Recognize, Send, Stream, Synthesize
from pipeline.server.http import HttpRequest, HttpResponse, Oversized, WebSocketChannel, serve_connection
from pipeline.server.ids import IdGenerator
from pipeline.server.speech import OfflineSpeech, Speech

Observer = Callable[[dict[str, Any]], None]
CLOSE_GRACE_S = 2.0


@attrs.frozen(kw_only=True)
class ServerHandle:
    """Where a running server listens."""

    host: str
    port: int
    base_url: str
    realtime_url: str


def _json(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


class RealtimeApp:
    """Shared state of one server: configuration, speech backend, thread limiter, connection counter."""

    def __init__(
        self, config: ServerConfig, *, observer: Observer | None, client_observer: Observer | None, speech: Speech
    ) -> None:
        self.config = config
        self.observer = observer
        self.client_observer = client_observer
        self.speech = speech
        self.limiter = trio.CapacityLimiter(config.worker_threads)
        self._numbers = itertools.count()
        self._chat_ids = IdGenerator(config.seed, connection_number=-1)
        self.accepted = 0  # WebSocket upgrades accepted so far
        self._moments: dict[str, int] = {}  # drop moments seen so far, over every connection

    def admit(self, request: HttpRequest) -> tuple[int, bytes] | None:
        """Accept an upgrade, or refuse it with 503 once `refuse_connections_after` were accepted."""
        limit = self.config.refuse_connections_after
        if limit is not None and self.accepted >= limit:
            body = error_body("The server is not accepting new Realtime connections. Please try again later.", code="service_unavailable")
            body["error"]["type"] = "server_error"
            return 503, json.dumps(body).encode()
        self.accepted += 1
        return None

    def moment(self, name: str) -> bool:
        """Count one occurrence of a drop moment; True when a `drop_socket_on` point asks for a drop now."""
        count = self._moments[name] = self._moments.get(name, 0) + 1
        return DropPoint(name, count) in self.config.drop_socket_on

    # ----------------------------------------------------------------- HTTP

    async def http(self, request: HttpRequest) -> HttpResponse:
        path = request.path.rstrip("/")
        if path.endswith("/chat/completions"):
            if request.method != "POST":
                return _json(405, error_body(f"Method {request.method} not allowed for {request.path}."))
            try:
                body = json.loads(request.body or b"null")
            except ValueError:
                return _json(400, error_body(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                    "valid JSON.)", code=None))  # fmt: skip
            status, result = completion(body, self._chat_ids, now=time.time())
            if status == 200 and isinstance(body, dict) and body.get("stream"):
                return HttpResponse(status=200, content_type="text/event-stream", stream=lambda: sse_chunks(result))
            return _json(status, result)
        if path.endswith("/models") and request.method == "GET":
            models = [{"id": self.config.model, "object": "model", "created": 0, "owned_by": "rtpipe"}]
            return _json(200, {"object": "list", "data": models})
        if path.endswith("/realtime"):
            return _json(400, error_body("This endpoint expects a WebSocket upgrade."))
        if path in ("", "/health", "/v1"):
            return _json(200, {"status": "ok"})
        return _json(404, error_body(f"Invalid URL ({request.method} {request.path})"))

    # ----------------------------------------------------------------- WebSocket

    async def realtime(self, channel: WebSocketChannel, request: HttpRequest) -> None:
        query = parse_qs(urlsplit(request.target).query)
        model = (query.get("model") or [self.config.model])[0]
        config = self.config
        core = RealtimeCore(
            CoreConfig(
                model=model,
                now_s=time.time(),
                max_session_s=config.max_session_s,
                transcript_delay_ms=config.transcript_delay_ms,
                transcript_fault=config.transcript_fault,
                error_after_responses=config.error_after_responses,
                chunk_ms=config.audio_chunk_ms,
                rate_limit_tokens=config.rate_limit_tokens,
                item_done_order=config.item_done_order,
            ),
            IdGenerator(config.seed, connection_number=next(self._numbers)),
        )
        session = _Session(self, core, channel)
        await session.run()


class _Session:
    """The tasks of one WebSocket connection around its core."""

    def __init__(self, app: RealtimeApp, core: RealtimeCore, channel: WebSocketChannel) -> None:
        self.app = app
        self.core = core
        self.channel = channel
        self.closing = False
        self.audio_items: dict[str, tuple[bool, int]] = {}  # audio item -> (a drop point's, deltas sent)

    def _drop_now(self, event: dict[str, Any]) -> bool:
        """After sending `event`: does a `drop_socket_on` moment happen here?"""
        kind = event["type"]
        if kind == "response.function_call_arguments.done":
            return self.app.moment("tool-call")
        if kind == "response.created":
            return self.app.moment("response")
        if kind == "response.output_audio.delta":
            item_id = str(event["item_id"])
            marked, sent = self.audio_items.get(item_id) or (self.app.moment("audio"), 0)
            self.audio_items[item_id] = (marked, sent + 1)
            return marked and sent + 1 == max(1, self.core.audio_chunks(item_id) // 2)
        return False

    def deliver(self, outputs: list[Output], work: trio.Nursery) -> None:
        for output in outputs:
            if self.closing:
                return
            if isinstance(output, Send):
                if self.app.observer is not None:
                    self.app.observer(output.event)
                self.channel.send_text(json.dumps(output.event))
                if self.app.config.drop_socket_on and self._drop_now(output.event):
                    self.channel.drop()  # after what is queued: the client has this event, then the TCP reset
                    self.closing = True
            elif isinstance(output, Recognize):
                work.start_soon(self._recognize, output, work)
            elif isinstance(output, Synthesize):
                work.start_soon(self._synthesize, output, work)
            elif isinstance(output, Stream):
                work.start_soon(self._stream, output, work)
            elif isinstance(output, Close):
                self.channel.close(output.code, output.reason)
                self.closing = True
                work.start_soon(self._abort_after, CLOSE_GRACE_S)

    async def _recognize(self, effect: Recognize, work: trio.Nursery) -> None:
        started = trio.current_time()
        due = started + self.app.config.recognition_ms / 1000
        try:
            text = await run_sync_held(
                functools.partial(self.app.speech.transcribe, effect.pcm),
                limiter=self.app.limiter, abandon_on_cancel=True, due=due,
            )  # fmt: skip
        except Exception as error:  # ASR must never take the connection down; hearing nothing is the fallback
            print(f"rtpipe serve: speech recognition failed: {error}", file=sys.stderr)
            text = ""
        # the modelled service latency: the words are known this long after the commit, however fast the
        # machine decoded them (the same in real and in simulated time)
        await trio.sleep_until(due)
        self.deliver(self.core.recognized(effect.item_id, text), work)
        if effect.transcript_delay_s is not None:
            await trio.sleep_until(started + effect.transcript_delay_s)
            self.deliver(self.core.transcription_due(effect.item_id), work)

    async def _synthesize(self, effect: Synthesize, work: trio.Nursery) -> None:
        due = trio.current_time() + self.app.config.first_audio_ms / 1000
        try:
            pcm = await run_sync_held(
                lambda: self.app.speech.synthesize(effect.text, voice=effect.voice, speed=effect.speed),
                limiter=self.app.limiter,
                abandon_on_cancel=True,
                due=due,
            )
        except Exception as error:  # reported to the client as a failed response
            self.deliver(self.core.synthesis_failed(effect.response_id, f"speech synthesis failed: {error}"), work)
            return
        await trio.sleep_until(due)  # the modelled time to first audio
        self.deliver(self.core.synthesized(effect.response_id, pcm), work)

    async def _stream(self, effect: Stream, work: trio.Nursery) -> None:
        pause = self.app.config.pacing_ms / 1000
        while True:
            outputs, finished = self.core.advance(effect.response_id)
            self.deliver(outputs, work)
            if finished:
                return
            if pause > 0:
                await trio.sleep(pause)
            else:
                await trio.lowlevel.checkpoint()

    async def _abort_after(self, seconds: float) -> None:
        await trio.sleep(seconds)
        self.closing = True
        await self.channel.abort()

    async def _expire(self, work: trio.Nursery) -> None:
        await trio.sleep(self.app.config.max_session_s)
        self.deliver(self.core.expire(), work)

    async def run(self) -> None:
        config = self.app.config
        async with trio.open_nursery() as outer:
            outer.start_soon(self.channel.writer)
            async with trio.open_nursery() as work:
                self.deliver(self.core.open(), work)
                work.start_soon(self._expire, work)
                if config.drop_socket_after_s is not None:
                    work.start_soon(self._abort_after, config.drop_socket_after_s)
                async for message in self.channel.messages():
                    if self.closing:
                        continue
                    if isinstance(message, Oversized):
                        self.deliver(self.core.oversized(message.size, message.limit), work)
                        continue
                    self.deliver(self.core.receive(message), work)
                    for bug in self.core.internal_errors:
                        print(f"rtpipe serve: internal error handling a client event: {bug}", file=sys.stderr)
                    self.core.internal_errors.clear()
                    if self.app.client_observer is not None and self.core.last_accepted is not None:
                        self.app.client_observer(self.core.last_accepted)
                work.cancel_scope.cancel()
            self.channel.finish_writing()
            outer.cancel_scope.deadline = trio.current_time() + CLOSE_GRACE_S


async def serve(
    config: ServerConfig,
    *,
    task_status: trio.TaskStatus[ServerHandle] = trio.TASK_STATUS_IGNORED,
    observer: Observer | None = None,
    client_observer: Observer | None = None,
    speech: Speech | None = None,
) -> None:
    """Run the server until cancelled; `task_status.started(ServerHandle)` once it listens.

    `observer` sees every server event sent (tests validate them centrally); `client_observer` every client
    event the server accepted as valid. Port 0 picks a free port. Errors binding the port propagate.
    """
    host = "127.0.0.1" if config.host == "localhost" else config.host
    listeners = await trio.open_tcp_listeners(config.port, host=host)
    port = listeners[0].socket.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    handle = ServerHandle(
        host=host, port=port, base_url=f"http://{shown}:{port}/v1", realtime_url=f"ws://{shown}:{port}/v1/realtime"
    )
    app = RealtimeApp(config, observer=observer, client_observer=client_observer, speech=speech or OfflineSpeech())

    async def handle_stream(stream: trio.SocketStream) -> None:
        try:
            await serve_connection(
                stream, http=app.http, realtime=app.realtime, max_message_bytes=config.max_message_bytes, admit=app.admit
            )
        except Exception as error:  # one broken connection must not stop the server
            print(f"rtpipe serve: connection failed: {type(error).__name__}: {error}", file=sys.stderr)

    task_status.started(handle)
    await trio.serve_listeners(handle_stream, listeners)
