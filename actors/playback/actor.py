"""Playback actor: the edge where the assistant's voice leaves the pipeline.

Consumes ``AssistantAudioDelta``, ``AssistantAudioDone``, ``ResponseCreated``, ``ResponseDone``,
``SpeechStarted``, ``ConnectionLost``, ``ItemTruncated``, and its own ``PlaybackProgress`` /
``PlaybackFinished`` (so that the core knows what was played from the journal alone); ``SessionEnding`` only
in the shell (the core ignores it).

Emits, as edge events: ``PlaybackProgress(item_id, played_ms, received_ms)`` after every block written to the
sink, and ``PlaybackFinished(item_id, played_ms, interrupted)`` once per item that had audio (all its audio
received and played; or stopped by a barge-in or a lost connection, with what was played of it; or, for an
item of a response stopped before the item's audio began to arrive, ``played_ms=0`` on its first delta).
Everything is per item: a response with a preamble message and an answer message plays both, one after the
other, with their own progress and finish. From its core (see core.py): ``PlaybackInterrupted`` and the
``conversation.item.truncate`` ``ClientCommand`` for the item actually heard.

Audio streams to the sink as it arrives (never waiting for ``response.done``). One playout task writes it:
``realtime=True`` paces 40 ms blocks at 1x in trio time, like a speaker; ``realtime=False`` writes each delta
at once (``--fast``). The playout writes a block only when the core has seen every envelope delivered so far,
and writes it and publishes its progress in one step with no checkpoint between: so when the core decides a
barge-in, the ``played_ms`` it truncates at is exactly the last progress published for that item, and not a
block more reaches the sink after the decision.

Buffer and drop policy: only unplayed audio is kept (a queue of deltas, by item, in arrival order); nothing is
dropped except on barge-in or a lost connection, when the interrupted items' queued audio is discarded at once
and the late deltas of a barged-in response are ignored (the core says which: ``PlaybackCore.ignores``).
Deltas are not droppable, so a slow sink slows the router rather than losing audio. The reader never
publishes to its own inbox (which only it drains); progress and finish reports go out from the playout task.

End of input: the queued audio is played out (bounded by ``drain_s``), then the sink is closed. A
``SessionEnding`` drops the queued audio at once: a session ended by a signal stops talking now (an ordinary
end comes only after everything was played, so it loses nothing). On cancellation it stops at once; the sink is closed in a ``finally`` (``close`` is synchronous, so a
cancellation cannot interrupt it).
"""

from __future__ import annotations

import collections
import math

import attrs
import trio

from actors.playback.core import RATE, PlaybackCore, pcm_ms
from actors.playback.sinks import Sink
from events.base import Event
from events.connection import ConnectionLost
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    ItemTruncated,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
)
from events.runtime import SessionEnding
from pipeline.bus import DEFAULT_CAPACITY
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec

NAME = "playback"
CONSUMES = frozenset(
    {
        AssistantAudioDelta,
        AssistantAudioDone,
        ResponseCreated,
        ResponseDone,
        SpeechStarted,
        ConnectionLost,
        ItemTruncated,
        PlaybackProgress,
        PlaybackFinished,
        SessionEnding,
    }
)
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=PlaybackCore.from_config)

BLOCK_BYTES = RATE * 40 // 1000 * 2  # one 40 ms block in real time
FAST_MAX_BYTES = RATE * 10 * 2  # at most 10 s per write in fast mode


def playback_actor(
    sink: Sink, *, realtime: bool, drain_s: float = 5.0, capacity: int = DEFAULT_CAPACITY
) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            await _Playback(ctx, sink, realtime=realtime, drain_s=drain_s).run()

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell, capacity=capacity)


@attrs.define
class _Track:
    """The shell's view of one item being played (bytes of PCM16)."""

    response_id: str
    received: int = 0
    played: int = 0
    queued: int = 0
    done: bool = False  # no more audio will arrive for it

    def progress(self, item_id: str) -> PlaybackProgress:
        return PlaybackProgress(item_id=item_id, played_ms=pcm_ms(self.played // 2), received_ms=pcm_ms(self.received // 2))

    def finished(self, item_id: str, interrupted: bool = False) -> PlaybackFinished:
        return PlaybackFinished(item_id=item_id, played_ms=pcm_ms(self.played // 2), interrupted=interrupted)


class _Playback:
    def __init__(self, ctx: ActorContext, sink: Sink, *, realtime: bool, drain_s: float) -> None:
        self.ctx = ctx
        self.sink = sink
        self.realtime = realtime
        self.drain_s = drain_s
        self.core = PlaybackCore(ctx.name)
        self.queue: collections.deque[tuple[str, bytes]] = collections.deque()  # unplayed audio, in order
        self.tracks: dict[str, _Track] = {}
        self.silenced: dict[str, str] = {}  # item reported interrupted -> its response, while its deltas may arrive
        self.reports: collections.deque[Event] = collections.deque()  # PlaybackFinished waiting to go out
        self.handled = 0  # envelopes the reader has fully handled (compared with the inbox's ``delivered``)
        self.input_ended = False
        self.wakeup = trio.lowlevel.ParkingLot()  # the playout waits here for the reader
        self.playout_done = trio.Event()
        self.next_at = -math.inf  # when the next real-time block may start

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.read, nursery.cancel_scope)
                nursery.start_soon(self.playout)
        except BaseExceptionGroup as group:
            raise _sole_exception(group) from None
        finally:
            self.sink.close()

    # -- reader: the only task feeding the core -------------------------------------------------------------
    async def read(self, done: trio.CancelScope) -> None:
        async for env in self.ctx.inbox:
            self.note(env.event)
            for out in self.core.handle(env):
                await self.ctx.publish(out, cause=env.seq)
                if isinstance(out, PlaybackInterrupted):
                    self.stop(out.item_id)
            self.handled += 1
            self.wakeup.unpark_all()
        self.input_ended = True
        self.wakeup.unpark_all()
        with trio.move_on_after(self.drain_s):
            await self.playout_done.wait()
        done.cancel()

    def note(self, event: Event) -> None:
        """Shell bookkeeping of what arrived: queue audio, learn when an item's audio is complete."""
        if isinstance(event, AssistantAudioDelta):
            if self.core.ignores(event.response_id):
                # the user barged in on this response: none of it plays; an item it had not started is
                # reported finished (never heard) once, so that nobody waits for it to be played
                if event.item_id not in self.silenced and event.item_id not in self.tracks:
                    self.silenced[event.item_id] = event.response_id
                    self.reports.append(PlaybackFinished(item_id=event.item_id, played_ms=0, interrupted=True))
                return
            track = self.tracks.get(event.item_id)
            if track is None:
                # items of a response stream one after the other: a new one completes the ones before it
                # (their .done may come only at response.done), so they finish as soon as they are played
                for item_id, earlier in list(self.tracks.items()):
                    if earlier.response_id == event.response_id and not earlier.done:
                        earlier.done = True
                        self.finish_if_played(item_id)
                track = self.tracks[event.item_id] = _Track(response_id=event.response_id)
            if event.pcm:
                track.received += len(event.pcm)
                track.queued += len(event.pcm)
                self.queue.append((event.item_id, event.pcm))
        elif isinstance(event, AssistantAudioDone):
            if event.item_id in self.tracks:
                self.tracks[event.item_id].done = True
                self.finish_if_played(event.item_id)
        elif isinstance(event, ResponseDone):
            for item_id, track in list(self.tracks.items()):
                if track.response_id == event.response_id:
                    track.done = True
                    self.finish_if_played(item_id)
            self.silenced = {i: r for i, r in self.silenced.items() if r != event.response_id}
        elif isinstance(event, ConnectionLost):
            self.silenced.clear()  # no delta of that connection's responses can come any more
        elif isinstance(event, SessionEnding):
            self.queue.clear()  # the session is ending: nothing more is played
            for track in self.tracks.values():
                track.queued = 0

    def stop(self, item_id: str) -> None:
        """Barge-in or lost connection: drop the item's queued audio now; report it finished (interrupted),
        with what was played of it."""
        track = self.tracks.pop(item_id, None)
        if track is None:
            return
        self.queue = collections.deque(seg for seg in self.queue if seg[0] != item_id)
        if self.core.ignores(track.response_id):
            self.silenced[item_id] = track.response_id  # its late deltas are not a new item
        self.reports.append(track.finished(item_id, interrupted=True))

    def finish_if_played(self, item_id: str) -> None:
        track = self.tracks[item_id]
        if track.done and track.queued == 0:
            del self.tracks[item_id]
            self.reports.append(track.finished(item_id))

    # -- playout: the only task writing to the sink and reporting progress ----------------------------------
    async def playout(self) -> None:
        try:
            while True:
                # Let the core see everything delivered so far before anything else is played.
                while self.handled < self.ctx.inbox.delivered:
                    await self.wakeup.park()
                if self.reports:
                    await self.ctx.publish(self.reports[0])
                    self.reports.popleft()
                    continue
                if not self.queue:
                    if self.input_ended:
                        return
                    await self.wakeup.park()
                    continue
                now = trio.current_time()
                start = max(self.next_at, now) if self.realtime else now
                if start > now:
                    await trio.sleep_until(start)
                    continue  # re-check: the reader may have stopped this audio meanwhile
                targets = self.ctx.bus.targets(PlaybackProgress)
                if not all(inbox.has_room() for inbox in targets):
                    for inbox in targets:
                        await inbox.wait_for_room()
                    continue
                # From here to the progress report: no checkpoint, so nothing can come between them.
                item_id, pcm = self.take_block()
                self.sink.write(pcm)
                track = self.tracks[item_id]
                track.played += len(pcm)
                self.ctx.publish_nowait(track.progress(item_id))
                self.next_at = start + len(pcm) / 2 / RATE
                self.finish_if_played(item_id)
        finally:
            self.playout_done.set()

    def take_block(self) -> tuple[str, bytes]:
        """The next block of the head item: 40 ms in real time, everything queued for it in fast mode."""
        limit = BLOCK_BYTES if self.realtime else FAST_MAX_BYTES
        item_id = self.queue[0][0]
        parts: list[bytes] = []
        size = 0
        while self.queue and self.queue[0][0] == item_id and size < limit:
            _, pcm = self.queue.popleft()
            take = min(len(pcm), limit - size)
            if take < len(pcm):
                self.queue.appendleft((item_id, pcm[take:]))
            parts.append(pcm[:take])
            size += take
        self.tracks[item_id].queued -= size
        return item_id, b"".join(parts)


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside (nested) nursery groups, so the session reports it in one plain line."""
    errors = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)] or list(group.exceptions)
    if len(errors) == 1:
        inner = errors[0]
        return _sole_exception(inner) if isinstance(inner, BaseExceptionGroup) else inner
    return group
