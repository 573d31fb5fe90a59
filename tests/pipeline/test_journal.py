from __future__ import annotations

import os
import stat
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
    JournalWriter,
    follow,
    journal_from_bytes,
    make_header,
    read_journal,
)
from pipeline.journal.format import MAGIC
from tests.pipeline.journal_layout import layout
from tests.strategies import envelope_lists

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def write(path: Path, envelopes: list[Envelope], *, close: bool = True) -> bytes:
    writer = JournalWriter(path, make_header({"model": "gpt-realtime"}, session_id="s1"))
    for env in envelopes:
        writer.append(env)
    if close:
        writer.close()
    else:
        writer.abandon()
    return path.read_bytes()


def sample(n: int = 5) -> list[Envelope]:
    return [
        Envelope(seq=i, t_ns=i * 40_000_000, source="capture", cause=None, event=AudioChunk(index=i, pcm=bytes([i]) * 64))
        for i in range(n)
    ]


@SETTINGS
@given(envelope_lists())
def test_any_sequence_of_events_round_trips_exactly(tmp_path_factory: pytest.TempPathFactory, envs: list[Envelope]) -> None:
    path = tmp_path_factory.mktemp("j") / "a.rtpj"
    write(path, envs)
    journal = read_journal(path)
    assert journal.end.reason is EndReason.CLOSED
    assert journal.envelopes() == envs


@SETTINGS
@given(envelope_lists(max_size=6))
def test_truncation_at_every_offset_keeps_complete_records(
    tmp_path_factory: pytest.TempPathFactory, envs: list[Envelope]
) -> None:
    base = tmp_path_factory.mktemp("t")
    data = write(base / "full.rtpj", envs)
    frames = layout(data)
    boundaries = [end for _, end in frames.records]
    for cut in range(len(data)):
        journal = journal_from_bytes(data[:cut])  # never raises (read_journal is this, on the file's bytes)
        complete = sum(1 for b in boundaries if b <= cut)
        assert journal.envelopes() == envs[:complete]
        # a cut inside a frame is a torn tail, a cut between frames is open: never corrupt, never closed
        at_boundary = cut in boundaries or cut == frames.header_end
        assert journal.end.reason is (EndReason.OPEN if at_boundary else EndReason.TORN), cut
        assert journal.corrupt_spans == ()
        if cut < frames.header_end:
            assert journal.records == [] and journal.header is None


def test_encode_record_is_what_the_writer_appends(tmp_path: Path) -> None:
    from pipeline.journal import encode_record

    envs = sample(3)
    data = write(tmp_path / "e.rtpj", envs)
    frames = layout(data)
    assert [data[s:e] for s, e in frames.records] == [encode_record(env) for env in envs]


@SETTINGS
@given(envelope_lists(max_size=5), st.data())
def test_any_single_flipped_byte_is_detected(
    tmp_path_factory: pytest.TempPathFactory, envs: list[Envelope], data: st.DataObject
) -> None:
    base = tmp_path_factory.mktemp("f")
    raw = write(base / "a.rtpj", envs)
    offset = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(1, 255))
    damaged = bytearray(raw)
    damaged[offset] ^= flip
    (base / "b.rtpj").write_bytes(bytes(damaged))
    try:
        journal = read_journal(base / "b.rtpj")
    except JournalError:
        assert offset < layout(raw).header_end  # only the magic or the header can make it "not a journal"
        return
    got = journal.envelopes()
    # whatever is returned was written, in order, and the damage is reported
    assert all(env in envs for env in got) and [envs.index(env) for env in got] == sorted(envs.index(e) for e in got)
    assert not journal.clean


def test_secrets_never_reach_the_file_and_mode_is_0600(tmp_path: Path) -> None:
    os.umask(0o022)
    key = "-".join(["sk", "proj", "THISISAVERYSECRETKEY1234567890"])  # a fake
    config = {
        "api_key": key,
        "headers": {"Authorization": f"Bearer {key}", "OpenAI-Project": "p1"},
        "server": f"wss://example.invalid/v1/realtime?api_key={key}",
        "maxim": {"MAXIM_API_KEY": "mx-secret-value-42"},
    }
    path = tmp_path / "s.rtpj"
    writer = JournalWriter(path, make_header(config))
    writer.append(sample(1)[0])
    writer.close()
    raw = path.read_bytes()
    assert key.encode() not in raw
    assert b"THISISAVERYSECRETKEY" not in raw
    assert b"mx-secret-value-42" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_journal(path).header.config["headers"]["OpenAI-Project"] == "p1"  # type: ignore[union-attr]


def test_writer_never_overwrites(tmp_path: Path) -> None:
    write(tmp_path / "a.rtpj", sample(1))
    with pytest.raises(FileExistsError):
        JournalWriter(tmp_path / "a.rtpj", make_header({}))


def test_reader_reports_open_journal_and_where_it_ends(tmp_path: Path) -> None:
    envs = sample(3)
    write(tmp_path / "o.rtpj", envs, close=False)
    journal = read_journal(tmp_path / "o.rtpj")
    assert journal.end.reason is EndReason.OPEN
    assert journal.end.records == 3
    assert "no close marker" in journal.end.describe()


def test_not_a_journal_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello world, not a journal")
    with pytest.raises(JournalError, match="not an rtpipe journal"):
        read_journal(tmp_path / "x.txt")
    with pytest.raises(JournalError, match="no such file"):
        read_journal(tmp_path / "missing.rtpj")
    (tmp_path / "future.rtpj").write_bytes(MAGIC[:5] + b"\x09" + b"\x00" * 10)
    with pytest.raises(JournalError, match="format 9 is not supported"):
        read_journal(tmp_path / "future.rtpj")


def test_follow_sees_records_as_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "live.rtpj"
    writer = JournalWriter(path, make_header({}))
    writer.append(Envelope(seq=0, t_ns=0, source="t", cause=None, event=TranscriptResolved(item_id="a", text="x", via="event")))
    writer.flush()
    items = follow(path, poll_s=0.01)
    header = next(items)
    assert getattr(header, "session_id", None) == writer.header.session_id
    assert getattr(next(items), "seq", None) == 0
    writer.append(Envelope(seq=1, t_ns=1, source="t", cause=None, event=TranscriptResolved(item_id="b", text="y", via="event")))
    writer.close()
    rest = list(items)
    assert [getattr(r, "seq", None) for r in rest[:-1]] == [1]
    assert getattr(rest[-1], "reason", None) is EndReason.CLOSED


def test_fsync_policy_parsing() -> None:
    assert FsyncPolicy.from_text("interval:0.5").interval_s == 0.5
    assert FsyncPolicy.from_text("always").mode.value == "always"
    with pytest.raises(ValueError, match="unknown fsync policy"):
        FsyncPolicy.from_text("sometimes")
