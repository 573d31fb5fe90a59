"""Hypothesis strategies for events and envelopes."""

from __future__ import annotations

from hypothesis import strategies as st

from events.audio import AudioChunk, CaptureDropped, CaptureEnded
from events.base import Event
from events.envelope import Envelope
from events.levels import AudioLevel
from events.runtime import InboxDropped, TimerFired, TimerRequested
from events.transcripts import TranscriptResolved, TranscriptUnavailable

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=24)
texts = st.text(max_size=80)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
naturals = st.integers(min_value=0, max_value=2**53)

pcm = st.binary(max_size=400).map(lambda b: b[: len(b) // 2 * 2])

events: st.SearchStrategy[Event] = st.one_of(
    st.builds(AudioChunk, index=naturals, pcm=pcm, rate=st.sampled_from([8000, 16000, 24000])),
    st.builds(CaptureDropped, first_index=naturals, count=st.integers(min_value=1, max_value=1000)),
    st.builds(CaptureEnded, chunks=naturals, reason=texts),
    st.builds(TranscriptResolved, item_id=ids, text=texts, via=st.sampled_from(["event", "retrieve"])),
    st.builds(TranscriptUnavailable, item_id=ids, reason=st.sampled_from(["failed", "timed_out"]), detail=texts),
    st.builds(AudioLevel, first_index=naturals, chunks=st.integers(1, 100), rms_dbfs=finite, peak_dbfs=finite),
    st.builds(InboxDropped, subscriber=ids, dropped_tag=ids, dropped_seq=naturals),
    st.builds(TimerRequested, key=ids, delay_ms=st.integers(0, 10**6)),
    st.builds(TimerFired, key=ids, requested_seq=naturals),
)


@st.composite
def envelope_lists(draw: st.DrawFn, max_size: int = 20) -> list[Envelope]:
    evs = draw(st.lists(events, max_size=max_size))
    out = []
    t = 0
    for seq, ev in enumerate(evs):
        t += draw(st.integers(0, 10**9))
        cause = draw(st.one_of(st.none(), st.integers(0, seq))) if seq else None
        out.append(Envelope(seq=seq, t_ns=t, source=draw(ids), cause=cause, event=ev))
    return out
