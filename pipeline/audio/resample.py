"""Sample-rate conversion and sample-format helpers for mono PCM16 audio.

All audio in rtpipe travels as little-endian signed 16-bit mono PCM ("PCM16"). This module converts between
rates with libsoxr (through the ``soxr`` wheel) at its HQ setting, which is a proper band-limited resampler:
upsampling does not create images above the source Nyquist frequency and downsampling does not alias.

Conversion goes through float32 and back with explicit rounding and clipping rather than soxr's int16 I/O,
so that PCM16 input and float input (WAV files, numpy arrays) share one code path with one, documented
rounding rule; the output is a pure function of the input (checked across processes), which replay and golden
tests rely on.

- ``resample_pcm16`` converts a whole buffer (identity when the rates are equal).
- ``StreamResampler`` converts a stream chunk by chunk with the filter state carried between chunks, so the
  concatenated output equals what a one-shot conversion of the concatenated input would give.
- ``to_mono_pcm16`` / ``pcm16_to_float`` / ``float_to_pcm16`` convert between numpy sample arrays and PCM16.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import soxr

__all__ = [
    "StreamResampler",
    "float_to_pcm16",
    "pcm16_to_float",
    "resample_float",
    "resample_pcm16",
    "to_mono_pcm16",
]

_QUALITY = "HQ"
_PCM16 = np.dtype("<i2")

FloatArray = npt.NDArray[np.float32]


def _check_rate(name: str, rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"{name} must be a positive integer sample rate, got {rate!r}")


def pcm16_to_float(pcm: bytes) -> FloatArray:
    """PCM16 LE bytes -> float32 samples in [-1, 1)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype=_PCM16).astype(np.float32) / np.float32(32768.0)


def float_to_pcm16(samples: npt.NDArray[Any]) -> bytes:
    """Float samples (nominally [-1, 1]) -> PCM16 LE bytes, rounded and clipped; NaN becomes silence."""
    scaled = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0
    return np.clip(np.rint(scaled), -32768, 32767).astype(_PCM16).tobytes()


def to_mono_pcm16(samples: npt.NDArray[Any] | bytes, channels: int = 1) -> bytes:
    """Downmix to mono PCM16 LE by averaging channels.

    ``samples`` is either PCM16 LE bytes with ``channels`` interleaved channels, or a numpy array: 1-D
    (interleaved with ``channels`` channels) or 2-D shaped ``(frames, channels)``. Integer arrays are taken
    at their full-scale range (int16 as is, int32 scaled down, uint8 centred on 128); float arrays are
    taken as [-1, 1].
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if isinstance(samples, bytes | bytearray | memoryview):
        data = bytes(samples)
        if channels == 1:
            if len(data) % 2:
                raise ValueError(f"PCM16 data must have an even number of bytes, got {len(data)}")
            return data
        floats: npt.NDArray[np.floating[Any]] = pcm16_to_float(data)
    else:
        floats = _normalise(np.asarray(samples))
        if floats.ndim == 2:
            channels = floats.shape[1]
            floats = floats.reshape(-1)
        elif floats.ndim != 1:
            raise ValueError(f"expected a 1-D or 2-D sample array, got shape {floats.shape}")
    if floats.size % channels:
        raise ValueError(f"{floats.size} samples do not divide into {channels} channels")
    mono = floats.reshape(-1, channels).mean(axis=1) if channels > 1 else floats
    return float_to_pcm16(mono)


def _normalise(array: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Any numeric sample array -> float64 in [-1, 1]."""
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float64)
    if kind == "u":
        half = float(1 << (8 * array.dtype.itemsize - 1))
        return (array.astype(np.float64) - half) / half
    if kind == "i":
        return array.astype(np.float64) / float(1 << (8 * array.dtype.itemsize - 1))
    raise ValueError(f"unsupported sample dtype {array.dtype}")


def resample_float(samples: FloatArray, src_rate: int, dst_rate: int) -> FloatArray:
    """Resample mono float32 samples (HQ soxr); identity when the rates are equal."""
    _check_rate("src_rate", src_rate)
    _check_rate("dst_rate", dst_rate)
    if src_rate == dst_rate or samples.size == 0:
        return samples
    out: FloatArray = soxr.resample(
        np.ascontiguousarray(samples, dtype=np.float32), src_rate, dst_rate, _QUALITY
    )
    return out


def resample_pcm16(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample mono PCM16 LE from ``src_rate`` to ``dst_rate`` Hz; returns ``pcm`` unchanged if equal.

    The output has ``round(len * dst_rate / src_rate)`` samples (soxr's one-shot length).
    """
    _check_rate("src_rate", src_rate)
    _check_rate("dst_rate", dst_rate)
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data must have an even number of bytes, got {len(pcm)}")
    if src_rate == dst_rate:
        return bytes(pcm)
    return float_to_pcm16(resample_float(pcm16_to_float(pcm), src_rate, dst_rate))


class StreamResampler:
    """Chunked mono PCM16 resampling with filter state carried across chunks.

    ``process`` accepts chunks of any length (an odd trailing byte is held until the next chunk, so a
    sample split across chunks is not lost) and returns whatever output is ready; the resampler's filter
    delay means early calls may return less than the nominal ratio. ``flush`` drains the tail and resets
    the stream so the object can be reused. Not thread-safe: one stream per producer.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        _check_rate("src_rate", src_rate)
        _check_rate("dst_rate", dst_rate)
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._carry = b""
        self._stream: Any = None if src_rate == dst_rate else self._new_stream()

    def _new_stream(self) -> Any:
        return soxr.ResampleStream(self.src_rate, self.dst_rate, 1, dtype="float32", quality=_QUALITY)

    def process(self, pcm: bytes) -> bytes:
        """Feed one chunk; return the PCM16 output available so far."""
        data = self._carry + bytes(pcm)
        usable = len(data) - (len(data) % 2)
        self._carry = data[usable:]
        data = data[:usable]
        if self._stream is None or not data:
            return data
        out = self._stream.resample_chunk(pcm16_to_float(data), last=False)
        return float_to_pcm16(out)

    def flush(self) -> bytes:
        """End of input: return the remaining output and reset for a new stream.

        A dangling odd byte (half a sample) is dropped.
        """
        self._carry = b""
        if self._stream is None:
            return b""
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream = self._new_stream()
        return float_to_pcm16(out)
