"""Journal: append cost per record, read-back rate (undamaged whole and streamed, and with the reader
resynchronising after damage), and size relative to the PCM it carries."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Result
from events.audio import AudioChunk
from events.envelope import Envelope
from events.transcripts import TranscriptResolved
from pipeline.journal import FsyncPolicy, JournalWriter, iter_journal, make_header, read_journal
from pipeline.journal.format import FRAME_HEAD, MAGIC, SYNC_U32
from pipeline.journal.writer import FsyncMode

N_SMALL = 200_000
N_AUDIO = 25 * 60  # one minute of 40 ms chunks


def run() -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        # small records: the per-record overhead of sequencing and framing
        small = [
            Envelope(seq=i, t_ns=i * 1000, source="transcripts", cause=i - 1 if i else None,
                     event=TranscriptResolved(item_id=f"item_{i % 97}", text="what is the weather", via="event"))
            for i in range(N_SMALL)
        ]
        path = Path(tmp) / "small.rtpj"
        writer = JournalWriter(path, make_header({}), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
        start = time.perf_counter()
        for env in small:
            writer.append(env)
        writer.flush()
        append_s = time.perf_counter() - start
        writer.close()
        results.append(Result("append (small record)", append_s / N_SMALL * 1e6, "µs/record", 3.0))

        start = time.perf_counter()
        journal = read_journal(path)
        read_s = time.perf_counter() - start
        assert len(journal.records) == N_SMALL
        results.append(Result("read back (records)", N_SMALL / read_s, "records/s", 500_000, "min"))
        start = time.perf_counter()
        stream = iter_journal(path)
        for _ in stream:
            pass
        stream_s = time.perf_counter() - start
        assert stream.records == N_SMALL
        results.append(Result("read back, streamed (records)", N_SMALL / stream_s, "records/s", 500_000, "min"))
        start = time.perf_counter()
        journal.envelopes()
        results.append(Result("read + build events", N_SMALL / (time.perf_counter() - start + read_s), "records/s"))

        # the same journal with one flipped byte in every 1,000th record: each costs that record only
        damaged = bytearray(path.read_bytes())
        offset, index, hits = len(MAGIC), -1, 0
        while offset < len(damaged):
            sync, length, _ = FRAME_HEAD.unpack_from(damaged, offset)
            assert sync == SYNC_U32
            if index >= 0 and index % 1000 == 500 and index < N_SMALL:
                damaged[offset + 12 + length // 2] ^= 0x20
                hits += 1
            offset += 12 + length
            index += 1
        bad_path = Path(tmp) / "damaged.rtpj"
        bad_path.write_bytes(bytes(damaged))
        start = time.perf_counter()
        bad = read_journal(bad_path)
        bad_s = time.perf_counter() - start
        assert len(bad.records) == N_SMALL - hits and len(bad.corrupt_spans) == hits
        results.append(Result("read back, 1 corrupt record in 1,000", len(bad.records) / bad_s, "records/s"))

        # audio: size overhead over the raw PCM
        pcm = bytes(range(256)) * (1920 // 256) + bytes(1920 % 256)
        path = Path(tmp) / "audio.rtpj"
        writer = JournalWriter(path, make_header({}), fsync=FsyncPolicy(mode=FsyncMode.CLOSE))
        chunks = [
            Envelope(seq=i, t_ns=i * 40_000_000, source="capture", cause=None, event=AudioChunk(index=i, pcm=pcm))
            for i in range(N_AUDIO)
        ]
        start = time.perf_counter()
        for env in chunks:
            writer.append(env)
        writer.flush()
        writer.close()
        audio_append = (time.perf_counter() - start) / N_AUDIO * 1e6
        results.append(Result("append (40 ms audio chunk)", audio_append, "µs/record", 3.0))
        size = path.stat().st_size
        results.append(Result("journal size / raw PCM", size / (len(pcm) * N_AUDIO), "x", 1.05))
    return results
