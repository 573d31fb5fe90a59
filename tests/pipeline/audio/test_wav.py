"""read_wav takes any PCM/float WAV to 24 kHz mono PCM16; WavWriter writes files other tools can read."""

from __future__ import annotations

import os
import signal
import stat
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.audio.resample import float_to_pcm16, pcm16_to_float
from pipeline.audio.wav import AudioFormatError, WavWriter, pcm_duration_ms, read_wav, write_wav

KSDATAFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")


def riff(fmt_body: bytes, data: bytes, extra_chunks: bytes = b"", data_size: int | None = None) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra_chunks
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, extensible: bool = False) -> bytes:
    block = channels * bits // 8
    head = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if not extensible:
        return head
    return head + struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + KSDATAFORMAT_SUFFIX


def encode(samples: np.ndarray, bits: int, is_float: bool) -> bytes:
    """float samples in [-1, 1], shape (frames, channels) -> interleaved little-endian sample bytes."""
    flat = samples.reshape(-1)
    if is_float:
        return bytes(flat.astype("<f4" if bits == 32 else "<f8").tobytes())
    if bits == 8:
        return bytes(np.clip(np.rint(flat * 128 + 128), 0, 255).astype(np.uint8).tobytes())
    scaled = np.clip(np.rint(flat * 2 ** (bits - 1)), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1).astype("<i4")
    if bits == 24:
        return bytes(scaled.view(np.uint8).reshape(-1, 4)[:, :3].tobytes())
    return bytes(scaled.astype("<i2" if bits == 16 else "<i4").tobytes())


def sine(rate: int, seconds: float = 0.5, freq: float = 1000.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def peak_hz(pcm: bytes, rate: int = 24000) -> float:
    x = pcm16_to_float(pcm)
    power = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(power)])


def write_file(tmp_path: Path, name: str, blob: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def test_pcm16_mono_24k_is_returned_bit_exact(tmp_path: Path) -> None:
    pcm = float_to_pcm16(sine(24000))
    path = tmp_path / "plain.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(pcm)
    assert read_wav(path) == pcm


@pytest.mark.parametrize(
    ("bits", "is_float", "extensible"),
    [(8, False, False), (16, False, False), (24, False, False), (32, False, False),
     (32, True, False), (64, True, False), (16, False, True), (24, False, True), (32, True, True)],
)  # fmt: skip
def test_every_sample_format_decodes_to_the_same_audio(
    tmp_path: Path, bits: int, is_float: bool, extensible: bool
) -> None:
    signal = sine(24000)
    fmt = fmt_chunk(3 if is_float else 1, 1, 24000, bits, extensible)
    path = write_file(tmp_path, "x.wav", riff(fmt, encode(signal[:, None], bits, is_float)))
    got = pcm16_to_float(read_wav(path))
    assert got.size == signal.size
    tolerance = 1 / 128 if bits == 8 else 2 / 32768
    assert np.max(np.abs(got - signal)) <= tolerance


@pytest.mark.parametrize("rate", [44100, 16000, 8000, 48000])
def test_any_rate_is_resampled_to_24k_keeping_pitch_and_duration(tmp_path: Path, rate: int) -> None:
    fmt = fmt_chunk(1, 1, rate, 16)
    path = write_file(tmp_path, "r.wav", riff(fmt, encode(sine(rate, 1.0)[:, None], 16, False)))
    pcm = read_wav(path)
    assert pcm_duration_ms(pcm) == pytest.approx(1000, abs=1)
    assert peak_hz(pcm) == pytest.approx(1000, abs=2)


def test_stereo_is_averaged_not_just_the_left_channel(tmp_path: Path) -> None:
    left = sine(44100, freq=1000)
    right = sine(44100, freq=3000, amplitude=0.25)
    fmt = fmt_chunk(1, 2, 44100, 16)
    path = write_file(tmp_path, "st.wav", riff(fmt, encode(np.stack([left, right], axis=1), 16, False)))
    x = pcm16_to_float(read_wav(path))
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(x.size, 1 / 24000)
    at = {f: spectrum[np.argmin(np.abs(freqs - f))] for f in (1000, 3000)}
    assert at[3000] / at[1000] == pytest.approx(0.5, rel=0.05)  # both channels, at half their level each
    # (0.5 sin1k + 0.25 sin3k) / 2; the left channel alone would have an RMS of 0.354.
    assert np.sqrt(np.mean(x**2)) == pytest.approx(np.sqrt(0.25**2 / 2 + 0.125**2 / 2), rel=0.02)


def test_opposite_channels_cancel(tmp_path: Path) -> None:
    left = sine(24000)
    fmt = fmt_chunk(3, 2, 24000, 32)
    path = write_file(tmp_path, "c.wav", riff(fmt, encode(np.stack([left, -left], axis=1), 32, True)))
    assert np.max(np.abs(pcm16_to_float(read_wav(path)))) < 1e-4


def test_six_channel_float_file(tmp_path: Path) -> None:
    frames = np.tile(sine(48000, 0.2)[:, None], (1, 6))
    path = write_file(tmp_path, "51.wav", riff(fmt_chunk(3, 6, 48000, 32, True), encode(frames, 32, True)))
    assert pcm_duration_ms(read_wav(path)) == pytest.approx(200, abs=1)


def test_other_chunks_and_odd_padding_are_skipped(tmp_path: Path) -> None:
    pcm = float_to_pcm16(sine(24000, 0.1))
    odd_list = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"  # odd size, one pad byte
    path = write_file(tmp_path, "list.wav", riff(fmt_chunk(1, 1, 24000, 16), pcm, extra_chunks=odd_list))
    assert read_wav(path) == pcm


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF, 10**9])
def test_unfinished_streaming_file_is_read_to_its_end(tmp_path: Path, placeholder: int) -> None:
    pcm = float_to_pcm16(sine(24000, 0.1))
    path = write_file(tmp_path, "u.wav", riff(fmt_chunk(1, 1, 24000, 16), pcm, data_size=placeholder))
    assert read_wav(path) == pcm


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (b"this is not audio at all, just some text", "not a WAV file (RIFF header missing)"),
        (b"", "empty file"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "not WAVE audio"),
        (riff(fmt_chunk(7, 1, 8000, 8), b"\x00" * 100), "unsupported WAV encoding mu-law"),
        (riff(fmt_chunk(1, 1, 24000, 12), b"\x00" * 100), "unsupported PCM sample size 12 bits"),
        (riff(fmt_chunk(1, 0, 24000, 16), b"\x00" * 100), "0 channels"),
        (b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00", "data chunk comes before"),
        (riff(fmt_chunk(1, 1, 24000, 16), b"")[:36], "no data chunk"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
    ],
)
def test_bad_content_raises_one_line_audio_format_error(tmp_path: Path, blob: bytes, expected: str) -> None:
    path = write_file(tmp_path, "song.wav", blob)
    with pytest.raises(AudioFormatError) as caught:
        read_wav(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert isinstance(caught.value, ValueError)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "nope.wav")


def test_wav_writer_round_trip_readable_by_stdlib(tmp_path: Path) -> None:
    pcm = float_to_pcm16(sine(24000, 0.5))
    path = tmp_path / "out.wav"
    with WavWriter(path) as writer:
        for start in range(0, len(pcm), 1920):  # 40 ms chunks
            writer.write(pcm[start : start + 1920])
        assert writer.frames == 12000
        assert writer.duration_ms == pytest.approx(500)
    assert writer.closed
    writer.close()  # harmless twice
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 24000, 12000)
        assert w.readframes(12000) == pcm
    assert read_wav(path) == pcm
    assert path.stat().st_size == 44 + len(pcm)


def test_wav_writer_file_is_a_complete_wav_after_every_write_without_close(tmp_path: Path) -> None:
    """What a ``kill -9`` leaves: the header on disk already counts every sample written."""
    pcm = float_to_pcm16(sine(24000, 0.1))
    path = tmp_path / "live.wav"
    writer = WavWriter(path, rate=16000)
    for n in (1, 2, 3):
        writer.write(pcm)  # no flush, no close
        with wave.open(str(path), "rb") as w:
            assert w.getnframes() == n * len(pcm) // 2
            assert w.getframerate() == 16000
        assert path.stat().st_size == 44 + n * len(pcm)
    assert read_wav(path, rate=16000) == pcm * 3
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(pcm)


def test_wav_writer_killed_mid_stream_leaves_a_valid_wav(tmp_path: Path) -> None:
    """A real ``kill -9`` of a process that is streaming a WAV: what is on disk is a WAV of what it wrote."""
    path = tmp_path / "killed.wav"
    code = (
        "import sys, time\n"
        "from pipeline.audio.wav import WavWriter\n"
        f"w = WavWriter({str(path)!r})\n"
        "for i in range(25):\n"
        "    w.write(bytes([i]) * 1920)\n"
        "print('written', flush=True)\n"
        "time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 25 * 960
        assert w.readframes(w.getnframes()) == b"".join(bytes([i]) * 1920 for i in range(25))


def test_wav_writer_creates_files_private_even_when_replacing_a_wider_one(tmp_path: Path) -> None:
    fresh, existing = tmp_path / "fresh.wav", tmp_path / "existing.wav"
    existing.write_bytes(b"old")
    existing.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_wav(fresh, b"\x00\x00" * 10)
        write_wav(existing, b"\x00\x00" * 10)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert read_wav(existing) == b"\x00\x00" * 10


def test_wav_writer_rejects_half_samples(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "h.wav") as writer, pytest.raises(ValueError, match="even"):
        writer.write(b"\x01")


def test_write_wav_at_other_rate_reads_back_resampled(tmp_path: Path) -> None:
    path = tmp_path / "w.wav"
    write_wav(path, float_to_pcm16(sine(16000, 1.0)), rate=16000)
    pcm = read_wav(path)
    assert pcm_duration_ms(pcm) == pytest.approx(1000, abs=1)
    assert peak_hz(pcm) == pytest.approx(1000, abs=2)


def test_pcm_duration_ms() -> None:
    assert pcm_duration_ms(b"\x00" * 48000) == 1000.0
    assert pcm_duration_ms(b"\x00" * 3200, rate=16000) == 100.0
