"""Playback core: barge-in decisions for the assistant's audio.

Theory of operation
-------------------
The core follows every assistant audio item that is still playing: how much audio was received
(``received_ms``, the sum of its ``AssistantAudioDelta`` durations at 24 kHz) and how much was played
(``played_ms``, from the latest ``PlaybackProgress`` the shell published for it). An item is *playing* from
its first delta until the shell reports it ``PlaybackFinished``.

When the user starts speaking (``SpeechStarted``, server VAD) while an item is still playing, that is, not
everything received has been played yet (``played < received``) or its audio is still arriving (neither
``AssistantAudioDone`` for it nor ``ResponseDone`` for its response has come), the user is barging in:

- ``PlaybackInterrupted(item_id, played_ms)``: the shell stops at once and drops the queued audio;
- if anything was heard (``played_ms > 0``): ``conversation.item.truncate`` with ``audio_end_ms =
  min(played_ms, received_ms)``, so the server forgets what the user never heard (and never gets an
  ``audio_end_ms`` past the audio it sent). Nothing played yet: no truncate (there is nothing to cut).

The server cancels the in-flight response itself, but deltas already on the wire still arrive: after an
interruption, later deltas of that item are ignored until its response is done (an item whose audio was
complete gets no more deltas, so nothing is remembered for it). A new item (the answer to
what the user just said) plays normally.

::

    IDLE ──delta──► PLAYING ──SpeechStarted while playing──► INTERRUPTED ──delta of a new item──► PLAYING
      ▲                │ last item finished                     │ its response done, nothing playing
      └────────────────┴────────────────────────────────────────┘

Pure: no I/O, no clock. Client ``event_id``s are ``playback_0001``, ``playback_0002``, ...
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from events import commands
from events.base import Event
from events.envelope import Envelope
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    ItemTruncated,
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
    INTERRUPTED = "interrupted"  # a barge-in stopped playback; late deltas of the stopped items are ignored


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
        self.state = PlaybackState.IDLE
        self._items: dict[str, _Item] = {}  # playing items, in arrival order
        self._stopped: dict[str, str] = {}  # interrupted item -> its response, until that response is done
        self._next_id = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PlaybackCore:
        return cls()

    def handle(self, env: Envelope) -> Sequence[Event]:
        event = env.event
        if isinstance(event, AssistantAudioDelta):
            self._on_delta(event)
        elif isinstance(event, AssistantAudioDone):
            if event.item_id in self._items:
                self._items[event.item_id].audio_done = True
        elif isinstance(event, ResponseDone):
            self._on_response_done(event.response_id)
        elif isinstance(event, PlaybackProgress):
            if event.item_id in self._items:
                self._items[event.item_id].played_ms = event.played_ms
        elif isinstance(event, PlaybackFinished):
            self._items.pop(event.item_id, None)
            self._settle()
        elif isinstance(event, SpeechStarted):
            return self._barge_in()
        elif isinstance(event, ItemTruncated):
            pass  # the server confirmed a truncate; nothing left to decide
        return []

    def _on_delta(self, delta: AssistantAudioDelta) -> None:
        if delta.item_id in self._stopped:
            return  # in flight when the user barged in: must not play
        item = self._items.get(delta.item_id)
        if item is None:
            item = self._items[delta.item_id] = _Item(response_id=delta.response_id)
        item.received_samples += len(delta.pcm) // 2
        self.state = PlaybackState.PLAYING

    def _on_response_done(self, response_id: str) -> None:
        for item in self._items.values():
            if item.response_id == response_id:
                item.audio_done = True
        self._stopped = {i: r for i, r in self._stopped.items() if r != response_id}
        self._settle()

    def _settle(self) -> None:
        if not self._items:
            self.state = PlaybackState.INTERRUPTED if self._stopped else PlaybackState.IDLE

    def _barge_in(self) -> list[Event]:
        out: list[Event] = []
        for item_id, item in list(self._items.items()):
            if not item.still_playing():
                continue
            out.append(PlaybackInterrupted(item_id=item_id, played_ms=item.played_ms))
            if item.played_ms > 0:
                end_ms = min(item.played_ms, item.received_ms)
                out.append(commands.item_truncate(self._event_id(), item_id, audio_end_ms=end_ms))
            if not item.audio_done:
                self._stopped[item_id] = item.response_id
            del self._items[item_id]
        if out:
            self.state = PlaybackState.INTERRUPTED
        return out

    def _event_id(self) -> str:
        event_id = f"{self.name}_{self._next_id:04d}"
        self._next_id += 1
        return event_id
