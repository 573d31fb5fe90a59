"""WAV files in and out.

``read_wav`` accepts what people actually have on disk: RIFF/WAVE with integer PCM of 8, 16, 24 or 32 bits,
IEEE float of 32 or 64 bits, and WAVE_FORMAT_EXTENSIBLE wrapping either; any rate; any number of channels.
It parses the RIFF chunks itself (the stdlib ``wave`` module refuses float and extensible files) and returns
24 kHz mono PCM16 LE: channels are averaged, the rate is converted with soxr. A file left unfinished by a
streaming writer (data size 0 or 0xFFFFFFFF, or larger than the file) is read up to its end.

Errors: a missing file raises ``FileNotFoundError`` untouched (the caller prints it); content that is not a
usable WAV raises ``AudioFormatError`` whose message is one line naming the file and the problem.

``write_wav`` writes a whole buffer; ``WavWriter`` streams PCM16 mono to disk. Every write reaches the OS at
once and the header is rewritten with the real sizes after it, so a process killed at any moment (``kill -9``)
leaves a complete WAV of the audio written so far. Files are created with mode 0600: a call's audio is as
private as its journal.
"""

from __future__ import annotations

import os
import struct
from types import TracebackType
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from pipeline.audio.resample import float_to_pcm16, resample_float, resample_pcm16

__all__ = [
    "DEFAULT_RATE",
    "AudioFormatError",
    "WavWriter",
    "pcm_duration_ms",
    "read_wav",
    "write_wav",
]

DEFAULT_RATE: Final = 24000

_FORMAT_PCM: Final = 0x0001
_FORMAT_FLOAT: Final = 0x0003
_FORMAT_EXTENSIBLE: Final = 0xFFFE
_FORMAT_NAMES: Final = {
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MP3",
}
_UNKNOWN_SIZE: Final = 0xFFFFFFFF
_HEADER_BYTES: Final = 44
_MAX_DATA_BYTES: Final = 0xFFFFFFFF - (_HEADER_BYTES - 8)

PathLike = str | os.PathLike[str]


class AudioFormatError(ValueError):
    """A file's content is not audio we can read. ``str(error)`` is one line: "<path>: <problem>"."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def pcm_duration_ms(pcm: bytes, rate: int = DEFAULT_RATE) -> float:
    """Duration in milliseconds of mono PCM16 bytes at ``rate`` Hz."""
    return (len(pcm) // 2) * 1000.0 / rate


# --- reading -------------------------------------------------------------------------------------------


class _Format(NamedTuple):
    """The parts of a ``fmt `` chunk that decoding needs."""

    tag: int
    channels: int
    rate: int
    bits: int
    block_align: int


def _parse_fmt(path: PathLike, body: bytes) -> _Format:
    if len(body) < 16:
        raise AudioFormatError(path, f"fmt chunk too short ({len(body)} bytes)")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _FORMAT_EXTENSIBLE:
        # WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16); the GUID's first
        # two bytes are the real format tag.
        if len(body) < 40:
            raise AudioFormatError(path, "WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
        (tag,) = struct.unpack_from("<H", body, 24)
    if tag not in (_FORMAT_PCM, _FORMAT_FLOAT):
        name = _FORMAT_NAMES.get(tag, f"format tag 0x{tag:04x}")
        raise AudioFormatError(path, f"unsupported WAV encoding {name} (need integer PCM or 32/64-bit float)")
    if channels == 0:
        raise AudioFormatError(path, "WAV header says 0 channels")
    if rate == 0:
        raise AudioFormatError(path, "WAV header says 0 Hz sample rate")
    if tag == _FORMAT_PCM and bits not in (8, 16, 24, 32):
        raise AudioFormatError(path, f"unsupported PCM sample size {bits} bits (need 8, 16, 24 or 32)")
    if tag == _FORMAT_FLOAT and bits not in (32, 64):
        raise AudioFormatError(path, f"unsupported float sample size {bits} bits (need 32 or 64)")
    frame_bytes = channels * bits // 8
    if block_align < frame_bytes:
        # Some writers leave block_align wrong; the sample layout is what the other fields say.
        block_align = frame_bytes
    return _Format(tag, channels, rate, bits, block_align)


def _split_chunks(path: PathLike, blob: bytes) -> tuple[_Format, bytes]:
    """Walk the RIFF chunks; return the format and the (possibly truncated) data chunk body."""
    if len(blob) == 0:
        raise AudioFormatError(path, "empty file, not a WAV file")
    if len(blob) < 12 or blob[:4] != b"RIFF":
        hint = " (big-endian RIFX is not supported)" if blob[:4] == b"RIFX" else ""
        hint = hint or (" (RF64 is not supported)" if blob[:4] == b"RF64" else "")
        raise AudioFormatError(path, f"not a WAV file (RIFF header missing){hint}")
    if blob[8:12] != b"WAVE":
        raise AudioFormatError(path, "RIFF file is not WAVE audio")
    fmt: _Format | None = None
    pos = 12
    while pos + 8 <= len(blob):
        chunk_id, size = blob[pos : pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
        body_start = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(path, blob[body_start : body_start + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFormatError(path, "data chunk comes before the fmt chunk")
            # 0 / 0xFFFFFFFF / too large: an unfinished streaming file; take everything to the end.
            end = len(blob) if size in (0, _UNKNOWN_SIZE) else min(body_start + size, len(blob))
            return fmt, blob[body_start:end]
        pos = body_start + size + (size & 1)  # chunks are word-aligned
    if fmt is None:
        raise AudioFormatError(path, "WAV file has no fmt chunk")
    raise AudioFormatError(path, "WAV file has no data chunk")


def _decode_samples(fmt: _Format, data: bytes) -> npt.NDArray[np.float64]:
    """Interleaved sample bytes -> float64 array shaped (frames, channels) in [-1, 1]."""
    width = fmt.bits // 8
    frames = len(data) // fmt.block_align
    raw = np.frombuffer(data, dtype=np.uint8, count=frames * fmt.block_align).reshape(frames, fmt.block_align)
    raw = raw[:, : fmt.channels * width]  # drop padding bytes some writers put at the end of a frame
    flat = np.ascontiguousarray(raw).reshape(-1)
    if fmt.tag == _FORMAT_FLOAT:
        samples = flat.view("<f4" if width == 4 else "<f8").astype(np.float64)
        samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    elif width == 1:
        samples = (flat.astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        triples = flat.reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype(np.float64) / float(1 << 23)
    else:
        samples = flat.view("<i2" if width == 2 else "<i4").astype(np.float64) / float(1 << (fmt.bits - 1))
    return samples.reshape(frames, fmt.channels)


def read_wav(path: PathLike, *, rate: int = DEFAULT_RATE) -> bytes:
    """Read any PCM/float WAV file and return mono PCM16 LE at ``rate`` Hz (24 kHz by default).

    Raises ``FileNotFoundError`` (and other ``OSError``) as they come, ``AudioFormatError`` for bad content.
    """
    with open(path, "rb") as handle:
        blob = handle.read()
    fmt, data = _split_chunks(path, blob)
    if fmt.tag == _FORMAT_PCM and fmt.bits == 16 and fmt.channels == 1 and fmt.block_align == 2:
        # Already PCM16 mono: only the rate may need changing, with no float round trip.
        return resample_pcm16(data[: len(data) - len(data) % 2], fmt.rate, rate)
    frames = _decode_samples(fmt, data)
    mono = frames.mean(axis=1) if fmt.channels > 1 else frames[:, 0]
    return float_to_pcm16(resample_float(mono.astype(np.float32), fmt.rate, rate))


# --- writing -------------------------------------------------------------------------------------------


def _header(rate: int, data_bytes: int) -> bytes:
    riff_size = _UNKNOWN_SIZE if data_bytes == _UNKNOWN_SIZE else _HEADER_BYTES - 8 + data_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", riff_size, b"WAVE",
        b"fmt ", 16, _FORMAT_PCM, 1, rate, rate * 2, 2, 16,
        b"data", data_bytes,
    )  # fmt: skip


def write_wav(path: PathLike, pcm: bytes, rate: int = DEFAULT_RATE) -> None:
    """Write mono PCM16 LE bytes as a complete WAV file."""
    with WavWriter(path, rate) as writer:
        writer.write(pcm)


class WavWriter:
    """Streaming mono PCM16 WAV writer.

    The file is created (or truncated) with mode 0600. Samples go straight to the OS (no user-space buffer),
    and after each write the header is rewritten in place with the real sizes (one ``pwrite`` of 44 bytes),
    so the file on disk is a complete WAV of everything written so far at every moment: a crash or
    ``kill -9`` loses nothing that was written, and no placeholder length is ever left behind. ``flush``
    and ``close`` are kept for callers that want to say so; closing twice is harmless.
    """

    def __init__(self, path: PathLike, rate: int = DEFAULT_RATE) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.path = os.fspath(path)
        self.rate = rate
        self._data_bytes = 0
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # closed by close()
        try:
            os.fchmod(self._fd, 0o600)  # an existing file (or a permissive umask) must not keep a wider mode
            self._write_all(_header(rate, 0))
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    @property
    def frames(self) -> int:
        """Samples written so far."""
        return self._data_bytes // 2

    @property
    def duration_ms(self) -> float:
        """Audio written so far, in milliseconds."""
        return self.frames * 1000.0 / self.rate

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def write(self, pcm: bytes) -> None:
        """Append mono PCM16 LE samples; the header on disk counts them when this returns."""
        if self._fd is None:
            raise ValueError(f"{self.path}: write to a closed WavWriter")
        if len(pcm) % 2:
            raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm)}")
        if self._data_bytes + len(pcm) > _MAX_DATA_BYTES:
            raise ValueError(f"{self.path}: WAV data would exceed the 4 GiB RIFF limit")
        if not pcm:
            return
        self._write_all(pcm)
        self._data_bytes += len(pcm)
        self._patch_sizes()

    def _patch_sizes(self) -> None:
        assert self._fd is not None
        os.pwrite(self._fd, _header(self.rate, self._data_bytes), 0)

    def flush(self) -> None:
        """The file on disk is already a complete WAV of everything written (see the class docstring)."""
        if self._fd is not None:
            self._patch_sizes()

    def close(self) -> None:
        """Write the final sizes and close the file."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.pwrite(fd, _header(self.rate, self._data_bytes), 0)
        finally:
            os.close(fd)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
