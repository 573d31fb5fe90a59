from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from hypothesis import given

from events import EventError, decode_event, encode_event, event_class, event_from_payload, register
from events.audio import AudioChunk
from events.base import Event, FrozenDict, freeze
from events.transcripts import TranscriptResolved
from pipeline.journal import read_journal
from tests.strategies import events

GOLDEN = Path(__file__).parent.parent / "golden"


@given(events)
def test_every_event_round_trips_through_msgpack(event: Event) -> None:
    assert decode_event(encode_event(event)) == event


def test_pcm_stays_raw_bytes_not_base64() -> None:
    pcm = bytes(range(256)) * 4
    data = encode_event(AudioChunk(index=0, pcm=pcm))
    assert pcm in data  # msgpack bin: the PCM is stored verbatim


def test_duplicate_tag_is_an_import_error() -> None:
    with pytest.raises(EventError, match=r"duplicate event tag 'audio\.chunk'"):

        @register
        @attrs.frozen(kw_only=True)
        class Impostor(Event):
            TAG: ClassVar[str] = "audio.chunk"


def test_validators_run_on_decode() -> None:
    with pytest.raises(EventError, match="even length"):
        event_from_payload("audio.chunk", 1, {"index": 0, "pcm": b"\x00", "rate": 24000})


def test_unknown_tag_and_future_version_are_clear_errors() -> None:
    with pytest.raises(EventError, match=r"unknown event tag 'no\.such'"):
        event_class("no.such")
    with pytest.raises(EventError, match="newer than this rtpipe knows"):
        event_from_payload("transcript.resolved", 99, {"item_id": "a", "text": "b", "via": "event"})


def test_v1_transcript_resolved_upcasts_to_v2() -> None:
    event = event_from_payload("transcript.resolved", 1, {"item_id": "item_1", "text": "hello"})
    assert event == TranscriptResolved(item_id="item_1", text="hello", via="event")


def test_golden_v1_journal_still_decodes_to_todays_classes() -> None:
    journal = read_journal(GOLDEN / "v1-transcript-resolved.rtpj")
    assert journal.end.reason.value == "closed"
    assert [r.version for r in journal.records if r.tag == "transcript.resolved"] == [1, 1]
    resolved = [e.event for e in journal.envelopes() if isinstance(e.event, TranscriptResolved)]
    assert resolved == [
        TranscriptResolved(item_id="item_A1", text="what is the weather in paris", via="event"),
        TranscriptResolved(item_id="item_A2", text="tell me a story", via="event"),
    ]


def test_frozen_mapping_is_read_only_and_hashable() -> None:
    value = freeze({"usage": {"total_tokens": 3, "details": [1, 2]}})
    assert isinstance(value, FrozenDict)
    assert value["usage"]["details"] == (1, 2)
    assert hash(value) == hash(freeze({"usage": {"total_tokens": 3, "details": [1, 2]}}))
    with pytest.raises(TypeError):
        value["x"] = 1  # type: ignore[index]
