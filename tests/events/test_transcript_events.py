"""The transcript events added for issues 9 and 12: ``session ended`` and ``TranscriptLate`` round-trip and
validate (the shared strategies in tests/strategies.py do not know them yet)."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import decode_event, encode_event
from events.base import Event
from events.transcripts import SESSION_ENDED, TranscriptLate, TranscriptUnavailable

ids = st.text(min_size=1, max_size=20)
texts = st.text(max_size=40)
new_events = st.one_of(
    st.builds(TranscriptLate, item_id=ids, text=texts, via=st.sampled_from(["event", "retrieve"])),
    st.builds(TranscriptUnavailable, item_id=ids, reason=st.just(SESSION_ENDED), detail=texts),
)


@given(new_events)
def test_new_transcript_events_round_trip_through_msgpack(event: Event) -> None:
    assert decode_event(encode_event(event)) == event


def test_late_transcript_is_its_own_tag_and_validates() -> None:
    late = TranscriptLate(item_id="item_1", text="", via="event")
    assert (late.TAG, late.VERSION) == ("transcript.late", 1)
    with pytest.raises(ValueError):
        TranscriptLate(item_id="item_1", text="x", via="guess")
    with pytest.raises(ValueError):
        TranscriptLate(item_id="", text="x", via="event")
    with pytest.raises(ValueError):
        TranscriptUnavailable(item_id="item_1", reason="session_ended")
    assert attrs.evolve(late, text="words").text == "words"
