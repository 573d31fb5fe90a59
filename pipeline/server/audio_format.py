"""Audio formats of the protocol: `audio/pcm` (24 kHz PCM16 LE), `audio/pcmu` and `audio/pcma` (G.711, 8 kHz).

Inside the server all audio is 24 kHz PCM16 mono; these functions convert at the edges (appends in, deltas
out, `retrieve`). The G.711 codecs are the ITU-T reference algorithms vectorised with numpy.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

RATE: Final = 24000
BYTES_PER_SECOND: Final = RATE * 2
TELEPHONY_RATE: Final = 8000


def format_type(fmt: dict[str, Any] | None) -> str:
    return str((fmt or {}).get("type") or "audio/pcm")


def bytes_per_second(fmt_type: str) -> int:
    """Wire bytes per second of audio in this format."""
    return BYTES_PER_SECOND if fmt_type == "audio/pcm" else TELEPHONY_RATE


def _resample(pcm: bytes, src: int, dst: int) -> bytes:
    from pipeline.audio.resample import resample_pcm16

    return resample_pcm16(pcm, src, dst)


def _ulaw_decode(data: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
    u = ~np.frombuffer(data, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    sample = magnitude - 0x84
    return np.where(sign != 0, -sample, sample).astype(np.int16)


def _ulaw_encode(samples: np.ndarray[Any, np.dtype[np.int16]]) -> bytes:
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
    return encoded


def _alaw_decode(data: bytes) -> np.ndarray[Any, np.dtype[np.int16]]:
    a = np.frombuffer(data, dtype=np.uint8) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = (a & 0x0F).astype(np.int32)
    sample = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, sample, -sample).astype(np.int16)


def _alaw_encode(samples: np.ndarray[Any, np.dtype[np.int16]]) -> bytes:
    x = samples.astype(np.int32)
    sign = np.where(x >= 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32767)
    exponent = np.clip(np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 7, 0, 7)
    mantissa = np.where(exponent == 0, magnitude >> 4, magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8).tobytes()
    return encoded


def decode_input(data: bytes, fmt_type: str) -> bytes:
    """Wire audio → 24 kHz PCM16 (the PCM path is the identity)."""
    if fmt_type == "audio/pcm":
        return data
    samples = _ulaw_decode(data) if fmt_type == "audio/pcmu" else _alaw_decode(data)
    return _resample(samples.tobytes(), TELEPHONY_RATE, RATE)


def encode_output(pcm: bytes, fmt_type: str) -> bytes:
    """24 kHz PCM16 → wire audio."""
    if fmt_type == "audio/pcm":
        return pcm
    narrow = np.frombuffer(_resample(pcm, RATE, TELEPHONY_RATE), dtype=np.int16)
    return _ulaw_encode(narrow) if fmt_type == "audio/pcmu" else _alaw_encode(narrow)


def pcm_ms(pcm: bytes) -> int:
    """Duration in whole milliseconds of 24 kHz PCM16."""
    return bytes_ms(len(pcm))


def bytes_ms(size: int) -> int:
    """Duration in whole milliseconds of `size` bytes of 24 kHz PCM16 (no need to slice the audio to ask)."""
    return (size // 2) * 1000 // RATE
