"""Damage in the middle of a journal costs the records it touches and nothing else (issue 10).

Format-2 frames start with a sync marker; after a frame that fails its checks the reader finds the next
accepted frame and reports the bytes in between, with their offsets, as a corrupt span.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.audio import AudioChunk
from events.envelope import Envelope
from events.transcripts import TranscriptResolved
from pipeline.journal import EndReason, JournalWriter, make_header, read_journal
from pipeline.journal.format import FRAME_OVERHEAD, MAGIC_V1, SYNC
from tests.pipeline.journal_layout import layout
from tests.strategies import envelope_lists

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(path: Path, envelopes: list[Envelope], *, close: bool = True) -> bytes:
    writer = JournalWriter(path, make_header({"model": "gpt-realtime"}, session_id="s1"))
    for env in envelopes:
        writer.append(env)
    if close:
        writer.close()
    else:
        writer.abandon()
    return path.read_bytes()


def sample(n: int) -> list[Envelope]:
    out: list[Envelope] = []
    for i in range(n):
        if i % 3 == 2:
            event: object = TranscriptResolved(item_id=f"item_{i}", text="what is the weather in paris", via="event")
        else:
            event = AudioChunk(index=i, pcm=bytes([i % 251, 0]) * 480)
        out.append(Envelope(seq=i, t_ns=i * 40_000_000, source="capture", cause=None, event=event))  # type: ignore[arg-type]
    return out


def subsequence(small: list[Envelope], big: list[Envelope]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@SETTINGS
@given(envelope_lists(max_size=8), st.data())
def test_damage_costs_only_the_records_it_touches(
    tmp_path_factory: pytest.TempPathFactory, envs: list[Envelope], data: st.DataObject
) -> None:
    base = tmp_path_factory.mktemp("d")
    close = data.draw(st.booleans(), label="closed")
    raw = write(base / "a.rtpj", envs, close=close)
    frames = layout(raw)
    if frames.header_end == len(raw):
        return  # nothing after the header to damage
    start = data.draw(st.integers(frames.header_end, len(raw) - 1), label="start")
    damaged = bytearray(raw)
    if data.draw(st.booleans(), label="flip"):
        damaged[start] ^= data.draw(st.integers(1, 255), label="mask")
    else:
        size = data.draw(st.integers(1, min(24, len(raw) - start)), label="size")
        damaged[start : start + size] = data.draw(st.binary(min_size=size, max_size=size), label="bytes")
    changed = [i for i in range(len(raw)) if raw[i] != damaged[i]]
    (base / "b.rtpj").write_bytes(bytes(damaged))

    journal = read_journal(base / "b.rtpj")  # never raises for damage after the header
    got = journal.envelopes()
    untouched = [env for env, (s, e) in zip(envs, frames.records, strict=True) if not any(s <= i < e for i in changed)]
    assert subsequence(untouched, got), "a record the damage did not touch was lost"
    assert subsequence(got, envs), "a record was read that was never written"
    # every damaged byte is reported: in a corrupt span, or in a torn tail
    for i in changed:
        in_span = any(span.start <= i < span.end for span in journal.corrupt_spans)
        in_tail = journal.end.reason is EndReason.TORN and i >= journal.end.offset
        assert in_span or in_tail, (i, journal.describe())
    if not changed:
        assert journal.clean == close
    # the spans' record counts add up, where they are known
    if journal.end.reason is EndReason.CLOSED and journal.records_skipped is not None:
        assert len(got) + journal.records_skipped == len(envs)


def test_one_flipped_byte_in_the_middle_costs_one_record(tmp_path: Path) -> None:
    envs = sample(300)
    raw = write(tmp_path / "a.rtpj", envs)
    frames = layout(raw)
    start, end = frames.records[84]
    damaged = bytearray(raw)
    damaged[(start + end) // 2] ^= 0x40
    (tmp_path / "b.rtpj").write_bytes(bytes(damaged))
    journal = read_journal(tmp_path / "b.rtpj")
    assert [r.seq for r in journal.records] == [i for i in range(300) if i != 84]
    assert journal.end.reason is EndReason.CLOSED
    [span] = journal.corrupt_spans
    assert (span.start, span.end, span.records_lost, span.detail) == (start, end, 1, "checksum mismatch")
    assert journal.records_skipped == 1 and not journal.clean
    assert f"bytes {start}-{end}" in span.describe()
    assert "1 corrupt span (1 record skipped)" in journal.describe()


def test_a_flipped_length_field_is_a_corrupt_span_not_a_torn_tail(tmp_path: Path) -> None:
    envs = sample(20)
    raw = write(tmp_path / "a.rtpj", envs, close=False)
    frames = layout(raw)
    start, end = frames.records[5]
    damaged = bytearray(raw)
    damaged[start + len(SYNC) + 3] ^= 0x01  # the length's high byte: the frame now "runs past the end"
    (tmp_path / "b.rtpj").write_bytes(bytes(damaged))
    journal = read_journal(tmp_path / "b.rtpj")
    assert journal.end.reason is EndReason.OPEN  # the records after it are there: not a torn tail
    assert [r.seq for r in journal.records] == [i for i in range(20) if i != 5]
    [span] = journal.corrupt_spans
    assert (span.start, span.end, span.records_lost) == (start, end, 1)
    assert "runs past the end" in span.detail


def test_a_damaged_sync_marker_costs_nothing_but_is_reported(tmp_path: Path) -> None:
    envs = sample(10)
    raw = write(tmp_path / "a.rtpj", envs)
    start, _ = layout(raw).records[4]
    damaged = bytearray(raw)
    damaged[start + 1] ^= 0xFF
    (tmp_path / "b.rtpj").write_bytes(bytes(damaged))
    journal = read_journal(tmp_path / "b.rtpj")
    assert journal.envelopes() == envs
    [span] = journal.corrupt_spans
    assert (span.start, span.end, span.records_lost, span.detail) == (start, start + 4, 0, "damaged sync marker")


def test_a_real_torn_tail_is_torn_and_damage_at_the_end_is_corrupt(tmp_path: Path) -> None:
    envs = sample(10)
    raw = write(tmp_path / "a.rtpj", envs, close=False)
    start, end = layout(raw).records[-1]
    (tmp_path / "torn.rtpj").write_bytes(raw[: end - 7])  # the writer died while writing the last record
    torn = read_journal(tmp_path / "torn.rtpj")
    assert (torn.end.reason, torn.end.offset, len(torn.records), torn.corrupt_spans) == (EndReason.TORN, start, 9, ())
    damaged = bytearray(raw)
    damaged[end - 3] ^= 0x10  # a complete last record that fails its checksum: damage, not a partial write
    (tmp_path / "bad.rtpj").write_bytes(bytes(damaged))
    bad = read_journal(tmp_path / "bad.rtpj")
    assert (bad.end.reason, len(bad.records)) == (EndReason.CORRUPT, 9)
    [span] = bad.corrupt_spans
    assert (span.start, span.end, span.records_lost) == (start, end, None)


def test_bytes_after_the_close_marker_are_reported(tmp_path: Path) -> None:
    raw = write(tmp_path / "a.rtpj", sample(4))
    (tmp_path / "b.rtpj").write_bytes(raw + b"garbage!")
    journal = read_journal(tmp_path / "b.rtpj")
    assert journal.end.reason is EndReason.CLOSED and journal.end.after_close == 8
    assert not journal.clean and "closed cleanly" not in journal.describe()
    assert "followed by 8 unexpected bytes" in journal.describe()
    [span] = journal.corrupt_spans
    assert (span.start, span.end, span.records_lost) == (len(raw), len(raw) + 8, 0)
    assert len(journal.records) == 4


def test_a_damaged_trailer_loses_only_the_close_marker(tmp_path: Path) -> None:
    raw = write(tmp_path / "a.rtpj", sample(4))
    start, end = layout(raw).trailer  # type: ignore[misc]
    damaged = bytearray(raw)
    damaged[end - 1] ^= 0x01
    (tmp_path / "b.rtpj").write_bytes(bytes(damaged))
    journal = read_journal(tmp_path / "b.rtpj")
    assert len(journal.records) == 4 and journal.end.reason is EndReason.CORRUPT
    assert [(s.start, s.end) for s in journal.corrupt_spans] == [(start, end)]


def test_a_damaged_header_still_gives_the_records(tmp_path: Path) -> None:
    envs = sample(6)
    raw = write(tmp_path / "a.rtpj", envs)
    header_end = layout(raw).header_end
    damaged = bytearray(raw)
    damaged[header_end - 2] ^= 0x01
    (tmp_path / "b.rtpj").write_bytes(bytes(damaged))
    journal = read_journal(tmp_path / "b.rtpj")
    assert journal.header is None and journal.envelopes() == envs
    [span] = journal.corrupt_spans
    assert (span.start, span.end, span.records_lost) == (6, header_end, 0)
    assert span.detail.startswith("damaged header")


def test_overhead_is_twelve_bytes_a_frame(tmp_path: Path) -> None:
    env = sample(1)[0]
    raw = write(tmp_path / "a.rtpj", [env])
    start, end = layout(raw).records[0]
    from pipeline.journal import encode_record

    assert end - start == len(encode_record(env)) and raw[start : start + 4] == SYNC
    assert FRAME_OVERHEAD == 12


def test_format_1_journals_still_read_and_stop_at_damage() -> None:
    raw = (GOLDEN / "v1-transcript-resolved.rtpj").read_bytes()
    assert raw.startswith(MAGIC_V1)
    journal = read_journal(GOLDEN / "v1-transcript-resolved.rtpj")
    assert journal.clean and journal.header is not None and journal.header.format == 1
    assert [r.seq for r in journal.records] == [0, 1, 2]


def test_format_1_damage_is_one_span_to_the_end(tmp_path: Path) -> None:
    raw = bytearray((GOLDEN / "v1-transcript-resolved.rtpj").read_bytes())
    raw[-30] ^= 0x01
    (tmp_path / "v1.rtpj").write_bytes(bytes(raw))
    journal = read_journal(tmp_path / "v1.rtpj")
    assert journal.end.reason is EndReason.CORRUPT
    [span] = journal.corrupt_spans
    assert span.end == len(raw) and "format 1 cannot resynchronise" in span.detail
