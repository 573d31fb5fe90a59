"""Playback core: barge-in decisions for the assistant's audio, per item.

Theory of operation
-------------------
One response can carry several message items (a spoken preamble, "Let me check that.", then function calls;
or a short preamble message and then the answer as a second message item), so everything here is keyed by
**item**; a response is only the unit the server cancels.

The core follows every assistant audio item that is still playing, in the order its audio arrived (which is
the order the shell plays it in: one item after the other): how much audio was received (``received_ms``, the
sum of its ``AssistantAudioDelta`` durations at 24 kHz) and how much of *that item* was played
(``played_ms``, from the latest ``PlaybackProgress`` the shell published for it). An item is *playing* from
its first delta until the shell reports it ``PlaybackFinished``. The item actually being heard
(``heard_item``) is the first of them whose audio is not all played yet or is still arriving; the items
behind it have not started (``played_ms == 0``).

A response streams its items one after the other, so the first delta of a new item completes the audio of the
items of the same response before it, even though their ``.done`` events may come much later (gpt-realtime-2
sends them batched just before ``response.done``): a preamble that has been played in full is then finished,
not "still arriving", and a barge-in during the answer cuts the answer only.

It also knows which responses are *open* (``ResponseCreated`` or a first delta, until ``ResponseDone``):
the server cancels the open response when the user starts speaking (``interrupt_response``, which the
session always sets), so everything that response still sends must not play.

When the user starts speaking (``SpeechStarted``, server VAD):

- every playing item that is not finished (``played < received``, or its audio still arriving) stops:
  ``PlaybackInterrupted(item_id, played_ms)``, in playing order, the heard item first; the shell drops their
  queued audio at once and reports each ``PlaybackFinished(interrupted=True)``;
- the item that was heard (``played_ms > 0``) gets ``conversation.item.truncate`` at ``audio_end_ms =
  min(played_ms, received_ms)`` of that item, so the server forgets what the user never heard of it (and never
  gets an ``audio_end_ms`` past the audio it sent);
- the items of the response that had not started (``played_ms == 0``, their audio received but queued) are
  **not truncated**: they were never heard. They are reported ``PlaybackInterrupted``/``PlaybackFinished``
  with ``played_ms=0``, which is how the journal says so; the server keeps them as the response produced
  them (a truncate at 0, or a delete, would rewrite the model's own turn on a guess about what it meant);
- every open response is *stopped*: its later deltas (of the items above, or of items it had not started
  yet) are ignored until its ``ResponseDone``; the shell reports such a never-started item finished
  (interrupted, 0 ms) on its first ignored delta, so nobody waits for it to be played.

When the connection is lost (``ConnectionLost``), the responses it names in ``interrupted`` (and any other
response still open: none of them can finish on a dead connection) stop the same way, at once, but without
any truncate: that connection is gone, and the items come back (as text) in the re-seeded conversation. No
delta of theirs can arrive any more, so nothing is remembered for them.

A response created after the barge-in (the answer to what the user just said) plays normally.

::

    IDLE ──delta──► PLAYING ──SpeechStarted / ConnectionLost──► INTERRUPTED ──delta of a new response──► PLAYING
      ▲                │ last item finished                        │ stopped responses done, nothing playing
      └────────────────┴───────────────────────────────────────────┘

Pure: no I/O, no clock. Client ``event_id``s are ``playback_0001``, ``playback_0002``, ...
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from events import commands
from events.base import Event
from events.connection import ConnectionLost
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    ItemTruncated,
    ResponseCreated,
    ResponseDone,
    SpeechStarted,
)

RATE = 24000


def pcm_ms(samples: int) -> int:
    """Whole milliseconds of ``samples`` PCM16 samples at 24 kHz (rounded down, like the shell's count)."""
    return samples * 1000 // RATE


class PlaybackState(enum.Enum):
    IDLE = "idle"  # nothing playing
    PLAYING = "playing"  # at least one item is playing
    INTERRUPTED = "interrupted"  # a barge-in stopped playback; late deltas of the stopped responses are ignored


@attrs.define
class _Item:
    response_id: str
    received_samples: int = 0
    played_ms: int = 0
    audio_done: bool = False

    @property
    def received_ms(self) -> int:
        return pcm_ms(self.received_samples)

    def still_playing(self) -> bool:
        return self.played_ms < self.received_ms or not self.audio_done


class PlaybackCore:
    def __init__(self, name: str = "playback") -> None:
        self.name = name
        self._items: dict[str, _Item] = {}  # playing items, in arrival (= playing) order
        self._open: set[str] = set()  # responses created (or sending audio) and not done
        self._out_of_band: set[str] = set()  # open responses outside the conversation: the VAD does not cancel them
        self._stopped: set[str] = set()  # barged-in responses whose audio must not play, until they are done
        self._next_id = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PlaybackCore:
        return cls()

    # -- views (the shell asks these) ------------------------------------------------------------------------

    def ignores(self, response_id: str) -> bool:
        """True while ``response_id``'s audio must not play (the user barged in; it is being cancelled)."""
        return response_id in self._stopped

    @property
    def state(self) -> PlaybackState:
        if any(item.still_playing() for item in self._items.values()):
            return PlaybackState.PLAYING
        if self._stopped:
            return PlaybackState.INTERRUPTED
        return PlaybackState.PLAYING if self._items else PlaybackState.IDLE

    @property
    def heard_item(self) -> str | None:
        """The item whose audio the user hears now (or would next), None when nothing is playing."""
        return next((item_id for item_id, item in self._items.items() if item.still_playing()), None)

    # -- folding ---------------------------------------------------------------------------------------------

    def handle(self, env: Envelope) -> Sequence[Event]:
        event = env.event
        if isinstance(event, AssistantAudioDelta):
            self._on_delta(event)
        elif isinstance(event, AssistantAudioDone):
            if event.item_id in self._items:
                self._items[event.item_id].audio_done = True
        elif isinstance(event, ResponseCreated):
            self._open.add(event.response_id)
            if event.out_of_band:
                self._out_of_band.add(event.response_id)
        elif isinstance(event, ResponseDone):
            self._on_response_done(event.response_id)
        elif isinstance(event, PlaybackProgress):
            if event.item_id in self._items:
                self._items[event.item_id].played_ms = event.played_ms
        elif isinstance(event, PlaybackFinished):
            self._items.pop(event.item_id, None)
        elif isinstance(event, SpeechStarted):
            return self._barge_in()
        elif isinstance(event, ConnectionLost):
            return self._connection_lost(event.interrupted)
        elif isinstance(event, ItemTruncated):
            pass  # the server confirmed a truncate; nothing left to decide
        return []

    def _on_delta(self, delta: AssistantAudioDelta) -> None:
        if delta.response_id in self._stopped:
            return  # in flight when the user barged in: must not play
        self._open.add(delta.response_id)
        item = self._items.get(delta.item_id)
        if item is None:
            for earlier in self._items.values():  # items stream one after the other: theirs is complete
                if earlier.response_id == delta.response_id:
                    earlier.audio_done = True
            item = self._items[delta.item_id] = _Item(response_id=delta.response_id)
        item.received_samples += len(delta.pcm) // 2

    def _on_response_done(self, response_id: str) -> None:
        for item in self._items.values():
            if item.response_id == response_id:
                item.audio_done = True
        self._open.discard(response_id)
        self._out_of_band.discard(response_id)
        self._stopped.discard(response_id)

    def _barge_in(self) -> list[Event]:
        out = self._stop_items(lambda item: True, truncate=True)
        # the server cancels the open response(s) now: whatever they still send must not play
        self._stopped |= self._open - self._out_of_band
        return out

    def _connection_lost(self, interrupted: Iterable[str]) -> list[Event]:
        dead = set(interrupted) | self._open  # nothing still open can finish on a dead connection
        out = self._stop_items(lambda item: item.response_id in dead, truncate=False)
        self._open -= dead
        self._out_of_band -= dead
        self._stopped -= dead  # no delta of theirs can come any more
        return out

    def _stop_items(self, which: Callable[[_Item], bool], *, truncate: bool) -> list[Event]:
        """Stop the unfinished playing items chosen by ``which`` (in playing order); truncate those heard."""
        out: list[Event] = []
        for item_id, item in list(self._items.items()):
            if not item.still_playing() or not which(item):
                continue
            out.append(PlaybackInterrupted(item_id=item_id, played_ms=item.played_ms))
            if truncate and item.played_ms > 0:
                end_ms = min(item.played_ms, item.received_ms)
                out.append(commands.item_truncate(self._event_id(), item_id, audio_end_ms=end_ms))
            del self._items[item_id]
        return out

    def _event_id(self) -> str:
        event_id = f"{self.name}_{self._next_id:04d}"
        self._next_id += 1
        return event_id
