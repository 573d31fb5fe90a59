"""Reading a journal as a stream (issue 11): the same records, spans and ending as reading it whole, whatever
the damage and wherever the batches fall, in memory that does not grow with the journal's length."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.audio import AudioChunk
from events.envelope import Envelope
from events.transcripts import TranscriptResolved
from pipeline.journal import (
    EndReason,
    FsyncPolicy,
    JournalError,
    JournalStream,
    JournalWriter,
    iter_journal,
    journal_from_bytes,
    make_header,
    read_journal,
    stream_from_bytes,
)
from pipeline.journal.format import MAGIC_V1
from pipeline.journal.writer import FsyncMode
from tests.pipeline.journal_layout import layout
from tests.strategies import envelope_lists

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(path: Path, envelopes: list[Envelope], *, close: bool = True) -> bytes:
    writer = JournalWriter(path, make_header({"model": "gpt-realtime"}, session_id="s1"), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
    for env in envelopes:
        writer.append(env)
    if close:
        writer.close()
    else:
        writer.abandon()
    return path.read_bytes()


def chunks(n: int, pcm_bytes: int = 960) -> list[Envelope]:
    out: list[Envelope] = []
    for i in range(n):
        if i % 50 == 49:
            event: object = TranscriptResolved(item_id=f"item_{i}", text="what is the weather in paris", via="event")
        else:
            event = AudioChunk(index=i, pcm=bytes([i % 251, 1]) * (pcm_bytes // 2))
        out.append(Envelope(seq=i, t_ns=i * 20_000_000, source="capture", cause=None, event=event))  # type: ignore[arg-type]
    return out


def same_as_whole(stream: JournalStream, data: bytes) -> None:
    """The stream, read to its end, reports exactly what reading ``data`` whole reports."""
    whole = journal_from_bytes(data)
    assert stream.header == whole.header
    assert list(stream) == whole.records
    assert stream.exhausted
    assert (stream.end, stream.corrupt_spans) == (whole.end, whole.corrupt_spans)
    assert (stream.describe(), stream.clean, stream.records_skipped) == (whole.describe(), whole.clean, whole.records_skipped)
    assert stream.records == len(whole.records)
    if whole.records:
        assert (stream.first_seq, stream.last_seq, stream.last_t_ns) == (whole.records[0].seq, whole.records[-1].seq, whole.records[-1].t_ns)


@SETTINGS
@given(envelope_lists(max_size=10), st.data())
def test_a_damaged_journal_streams_as_it_reads_whole_whatever_the_batch(
    tmp_path_factory: pytest.TempPathFactory, envs: list[Envelope], data: st.DataObject
) -> None:
    raw = write(tmp_path_factory.mktemp("s") / "a.rtpj", envs, close=data.draw(st.booleans(), label="closed"))
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 3), label="hits")):
        if not damaged:
            break
        start = data.draw(st.integers(0, len(damaged) - 1), label="start")
        kind = data.draw(st.sampled_from(["flip", "overwrite", "cut", "append"]), label="kind")
        if kind == "flip":
            damaged[start] ^= data.draw(st.integers(1, 255), label="mask")
        elif kind == "overwrite":
            size = data.draw(st.integers(1, 24), label="size")
            damaged[start : start + size] = data.draw(st.binary(min_size=size, max_size=size), label="bytes")
        elif kind == "cut":
            del damaged[start:]
        else:
            damaged += data.draw(st.binary(min_size=1, max_size=40), label="tail")
    blob = bytes(damaged)
    batch = data.draw(st.integers(1, 300), label="batch")
    try:
        journal_from_bytes(blob)
    except JournalError as exc:  # not a journal at all: the stream says so, the same way, when it opens
        with pytest.raises(JournalError) as raised:
            stream_from_bytes(blob, batch_bytes=batch)
        assert str(raised.value) == str(exc)
        return
    same_as_whole(stream_from_bytes(blob, batch_bytes=batch), blob)


def test_a_journal_file_streams_as_it_reads_whole(tmp_path: Path) -> None:
    raw = write(tmp_path / "a.rtpj", chunks(400))
    frames = layout(raw)
    damaged = bytearray(raw)
    for index in (3, 150, 151, 390):  # flips in four records, two of them adjacent
        start, end = frames.records[index]
        damaged[(start + end) // 2] ^= 0x10
    damaged += b"junk after the close marker"
    path = tmp_path / "b.rtpj"
    path.write_bytes(bytes(damaged))
    for batch in (1, 997, 1 << 20):
        same_as_whole(iter_journal(path, batch_bytes=batch), bytes(damaged))
    stream = iter_journal(path)
    for _ in stream:
        pass
    # the adjacent records 150 and 151 are one span; the bytes after the close marker are one too
    assert len(stream.corrupt_spans) == 4 and stream.records_skipped == 4 and stream.end.after_close == 27


def test_format_1_journals_stream_as_they_read_whole(tmp_path: Path) -> None:
    raw = (GOLDEN / "v1-journal-demo.rtpj").read_bytes()
    assert raw.startswith(MAGIC_V1)
    for blob in (raw, raw[: len(raw) // 2], raw[:-3], raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:]):
        for batch in (1, 512, 1 << 20):
            same_as_whole(stream_from_bytes(blob, batch_bytes=batch), blob)
        path = tmp_path / "v1.rtpj"
        path.write_bytes(blob)
        same_as_whole(iter_journal(path, batch_bytes=4096), blob)


def test_a_journal_still_being_written_streams_as_it_was_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "live.rtpj"
    writer = JournalWriter(path, make_header({}), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
    envs = chunks(60)
    for env in envs[:40]:
        writer.append(env)
    writer.flush()
    size = path.stat().st_size
    stream = iter_journal(path)
    for env in envs[40:]:  # the writer goes on while the stream is read
        writer.append(env)
    writer.flush()
    assert [r.seq for r in stream] == list(range(40))
    assert stream.end.reason is EndReason.OPEN and stream.end.offset == size
    writer.close()
    # a later pass pinned to the first size reads the same records; unpinned, it reads the whole journal
    assert [r.seq for r in iter_journal(path, size=size)] == list(range(40))
    whole = iter_journal(path)
    assert [r.seq for r in whole] == list(range(60)) and whole.end.reason is EndReason.CLOSED


def test_a_stream_is_read_once_and_ends_only_when_read(tmp_path: Path) -> None:
    write(tmp_path / "a.rtpj", chunks(5))
    stream = iter_journal(tmp_path / "a.rtpj")
    assert stream.header is not None and stream.header.session_id == "s1"
    assert not stream.exhausted
    with pytest.raises(RuntimeError, match="once the stream has been read"):
        _ = stream.end
    assert len(list(stream)) == 5
    assert stream.clean
    with pytest.raises(RuntimeError, match="read once"):
        list(stream)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "torn"), (b"hello world, not a journal", "not an rtpipe journal")],
)
def test_files_that_are_not_journals(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.rtpj"
    if content is not None:
        path.write_bytes(content)
    if message == "torn":  # an empty file is a journal whose writer died before its header: nothing to read
        stream = iter_journal(path)
        assert list(stream) == [] and stream.end.reason is EndReason.TORN
        return
    with pytest.raises(JournalError, match=message):
        iter_journal(path)
    with pytest.raises(JournalError, match="is a directory"):
        iter_journal(tmp_path)


def _stream_peak(path: Path) -> tuple[int, int]:
    """(records read, tracemalloc peak in bytes) of one streaming pass that looks at every payload."""
    gc.collect()
    tracemalloc.start()
    try:
        count = total = 0
        for record in iter_journal(path, batch_bytes=256 << 10):
            count += 1
            total += len(record.payload.get("pcm", b""))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _whole_peak(path: Path) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        journal = read_journal(path)
        assert journal.records
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_stays_flat_whatever_the_length(tmp_path: Path) -> None:
    short, long = tmp_path / "short.rtpj", tmp_path / "long.rtpj"
    write(short, chunks(2_000))  # ~2 MB
    write(long, chunks(20_000))  # ~20 MB: ten times longer
    n_short, peak_short = _stream_peak(short)
    n_long, peak_long = _stream_peak(long)
    assert (n_short, n_long) == (2_000, 20_000)
    # the stream holds one batch (256 KB of frames) at a time: ten times the journal, not ten times the memory
    assert peak_long < 1.5 * peak_short + (256 << 10), (peak_short, peak_long)
    assert peak_long < 4 << 20, peak_long
    # the measurement can tell: reading the long journal whole holds all of it
    assert _whole_peak(long) > 8 * peak_long
