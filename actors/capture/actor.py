"""Capture actor: the edge where the user's audio enters the pipeline.

Consumes ``SessionReady`` (nothing is sent before it), and for the scripted user ``AudioCommitted``,
``TurnEnded`` and ``PlaybackProgress`` (turn-taking, decided by ``ScriptCore``; see core.py).

Emits, as edge events: ``AudioChunk(index, pcm, rate=24000)`` (PCM16 mono, ``chunk_ms`` each, the last one of
a file or line padded with silence), ``CaptureDropped(first_index, count)`` for microphone blocks lost because
the pipeline fell behind, and ``CaptureEnded(chunks, reason)`` once. From its core: ``ScriptLineStarted`` and
``ScriptFinished`` (script source only; other sources feed an idle core, so replay expects nothing).

Pacing: file, generator and script sources send chunk ``i`` at ``start + i * chunk_ms`` (trio time, start =
``SessionReady``); between script lines a real-time capture keeps streaming silence like a live microphone.
On a simulated clock (``pipeline.clock.SimClock``, what ``rtpipe run --fast`` uses with the embedded server)
this same real-time pacing runs in session time. ``fast=True`` (unpaced, for a real server) sends as fast as
the pipeline takes them: it waits for room in the inboxes of the chunk's
subscribers (so a file is never dropped) and sends nothing while a script waits for its turn.

Buffer and drop policy: a file, generator or script source can wait, so its chunks are never dropped: capture
waits for room in every subscriber's inbox before it publishes one (it catches up on its schedule after). Only a
live microphone cannot wait: its chunks take the bus's droppable path (a full inbox drops the chunk for that
subscriber, journaled as ``bus.dropped``), and its PortAudio callback never blocks: blocks go through a bounded channel (``queue_chunks``) and a
block that does not fit is counted and published as ``CaptureDropped``. The script keeps only the rendered
audio of the line being spoken.

End of input: a file or generator source ends by itself (``CaptureEnded(reason="end of file")`` / ``"end of
input"``) and the actor returns; a script ends after its last line's answer (``"end of script"``); when the
session ends first (the inbox closes), capture stops and publishes ``CaptureEnded(reason="session ended")``.
On cancellation it stops at once; the microphone stream is stopped and closed in a ``finally``.
"""

from __future__ import annotations

import math

import trio

from actors.capture.core import IdleCore, ScriptCore, capture_core_from_config
from actors.capture.events import ScriptFinished, ScriptLineStarted
from actors.capture.sources import (
    CaptureUnavailable,
    InputStream,
    MicFeed,
    MicSource,
    ScriptSource,
    Source,
    ToneSource,
    WavSource,
    chunk_bytes,
    split_chunks,
)
from events.audio import AudioChunk, CaptureDropped, CaptureEnded
from events.playback import PlaybackProgress, SessionReady, TurnEnded
from events.protocol import AudioCommitted
from pipeline.bus import DEFAULT_CAPACITY
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec, one_line

NAME = "capture"
CONSUMES = frozenset({SessionReady, TurnEnded, AudioCommitted, PlaybackProgress})
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=capture_core_from_config)


def capture_actor(
    source: Source,
    *,
    chunk_ms: int = 40,
    fast: bool = False,
    wait_for_session: bool = True,
    capacity: int = DEFAULT_CAPACITY,
) -> ActorSpec:
    """The capture actor for ``source``. ``wait_for_session=False`` starts at once (benches, tests)."""
    chunk_bytes(chunk_ms)  # validate now, not inside the session

    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            await _Capture(ctx, source, chunk_ms=chunk_ms, fast=fast, wait_for_session=wait_for_session).run()

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=capacity)


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside (nested) nursery groups, so the session reports it in one plain line."""
    errors = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)] or list(group.exceptions)
    if len(errors) == 1:
        inner = errors[0]
        return sole_exception(inner) if isinstance(inner, BaseExceptionGroup) else inner
    return group


class _Capture:
    def __init__(self, ctx: ActorContext, source: Source, *, chunk_ms: int, fast: bool, wait_for_session: bool) -> None:
        self.ctx = ctx
        self.source = source
        self.chunk_ms = chunk_ms
        self.chunk_size = chunk_bytes(chunk_ms)
        self.fast = fast
        self.core: ScriptCore | IdleCore = ScriptCore(source.lines) if isinstance(source, ScriptSource) else IdleCore()
        self.ready = trio.Event()
        if not wait_for_session:
            self.ready.set()
        self.start = 0.0
        self.index = 0  # next chunk index (pull and script sources)
        self.published = 0
        self.ended = False
        self.mic: MicFeed | None = None
        self.lines_out, self.lines_in = trio.open_memory_channel[ScriptLineStarted](math.inf)

    async def run(self) -> None:
        stream: InputStream | None = None
        if isinstance(self.source, MicSource):
            # opened (not started) before the session is ready, so a bad device fails with one plain error
            self.mic = MicFeed(trio.lowlevel.current_trio_token(), self.source.queue_chunks)
            stream = self.source.open(self.chunk_ms, self.mic)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.read_inbox, nursery.cancel_scope)
                nursery.start_soon(self.send, nursery.cancel_scope, stream)
        except BaseExceptionGroup as group:
            raise sole_exception(group) from None
        finally:
            if stream is not None:
                # Blocking but short: PortAudio stops its callback thread. Nothing to await, so no shield.
                stream.stop()
                stream.close()

    async def read_inbox(self, done: trio.CancelScope) -> None:
        """Feed the core every inbox envelope (replay's view) and act on its decisions."""
        async for env in self.ctx.inbox:
            if isinstance(env.event, SessionReady):
                self.ready.set()
            for out in self.core.handle(env):
                await self.ctx.publish(out, cause=env.seq)
                if isinstance(out, ScriptLineStarted):
                    self.lines_out.send_nowait(out)
                elif isinstance(out, ScriptFinished):
                    await self.end("end of script")
                    done.cancel()
                    return
        await self.end("session ended")
        done.cancel()

    async def send(self, done: trio.CancelScope, stream: InputStream | None) -> None:
        await self.ready.wait()
        self.start = trio.current_time()
        source = self.source
        if isinstance(source, WavSource | ToneSource):
            for pcm in source.chunks(self.chunk_ms):
                await self.pace()
                await self.publish(pcm)
            await self.end("end of file" if isinstance(source, WavSource) else "end of input")
            done.cancel()
        elif isinstance(source, ScriptSource):
            await self.speak(source)
        elif stream is not None:
            await self.listen(stream)

    async def pace(self) -> None:
        if self.fast:
            targets = self.ctx.bus.targets(AudioChunk)
            while not all(inbox.has_room() for inbox in targets):
                for inbox in targets:
                    await inbox.wait_for_room()
        else:
            await trio.sleep_until(self.start + self.index * self.chunk_ms / 1000)

    async def publish(self, pcm: bytes, index: int | None = None) -> None:
        """One chunk, unless capture has ended meanwhile: ``end`` flips ``ended`` before its first await, so
        no chunk can follow ``CaptureEnded`` or be missing from its count."""
        await trio.lowlevel.checkpoint()
        if self.mic is None:
            # a file, generator or script can wait: it is never dropped (only a live microphone is)
            targets = self.ctx.bus.targets(AudioChunk)
            while not all(inbox.has_room() for inbox in targets):
                for inbox in targets:
                    await inbox.wait_for_room()
        if self.ended:
            await trio.sleep_forever()  # the nursery is being cancelled
        self.ctx.publish_nowait(AudioChunk(index=self.index if index is None else index, pcm=pcm))
        self.index += 1
        self.published += 1

    async def speak(self, source: ScriptSource) -> None:
        """Stream the lines the core starts; silence between them in real time, nothing in fast mode."""
        rendered_out, rendered_in = trio.open_memory_channel[bytes](math.inf)
        silence = bytes(self.chunk_size)

        async def render() -> None:
            async for line in self.lines_in:
                for chunk in split_chunks(await source.render(line.text), self.chunk_size):
                    rendered_out.send_nowait(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(render)
            while True:
                await self.pace()
                if self.fast:
                    await self.publish(await rendered_in.receive())
                    continue
                try:
                    pcm = rendered_in.receive_nowait()
                except trio.WouldBlock:
                    pcm = silence
                await self.publish(pcm)

    async def listen(self, stream: InputStream) -> None:
        """Publish microphone blocks as they come; report lost ones as ``CaptureDropped``."""
        assert self.mic is not None
        try:
            stream.start()
        except Exception as error:
            raise CaptureUnavailable(f"cannot start the microphone: {one_line(error)}") from error
        async for index, pcm in self.mic.receive:
            await self.publish_drops(before=index)
            await self.publish(pcm, index)

    async def publish_drops(self, before: int | None = None) -> None:
        if self.mic is None:
            return
        for first, count in self.mic.drops.take_before(before):
            await self.ctx.publish(CaptureDropped(first_index=first, count=count))

    async def end(self, reason: str) -> None:
        if self.ended or self.ctx.bus.closed:
            return
        self.ended = True
        ended = CaptureEnded(chunks=self.published, reason=reason)
        await self.publish_drops()
        await self.ctx.publish(ended)
