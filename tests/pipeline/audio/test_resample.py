"""Resampling keeps pitch and length, is band-limited, and streams exactly like the one-shot path."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.audio.resample import (
    StreamResampler,
    float_to_pcm16,
    pcm16_to_float,
    resample_pcm16,
    to_mono_pcm16,
)


def sine_pcm(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return float_to_pcm16(amplitude * np.sin(2 * np.pi * freq * t))


def spectrum(pcm: bytes, rate: int) -> tuple[np.ndarray, np.ndarray]:
    x = pcm16_to_float(pcm).astype(np.float64)
    power = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    return np.fft.rfftfreq(x.size, 1 / rate), power


def peak_hz(pcm: bytes, rate: int) -> float:
    freqs, power = spectrum(pcm, rate)
    return float(freqs[np.argmax(power)])


def energy_fraction_above(pcm: bytes, rate: int, hz: float) -> float:
    freqs, power = spectrum(pcm, rate)
    return float(power[freqs > hz].sum() / power.sum())


@pytest.mark.parametrize("src_rate", [44100, 8000, 16000, 48000, 22050])
def test_sine_keeps_its_pitch_and_length_scales(src_rate: int) -> None:
    out = resample_pcm16(sine_pcm(1000, src_rate), src_rate, 24000)
    assert len(out) // 2 == 24000
    assert peak_hz(out, 24000) == pytest.approx(1000, abs=2)


def test_upsampling_from_8k_adds_no_images_above_the_source_band() -> None:
    src = sine_pcm(1000, 8000)
    out = resample_pcm16(src, 8000, 24000)
    assert energy_fraction_above(out, 24000, 4200) < 1e-5
    # The check can fail: sample repetition (a "nearest" resampler) puts images at 7 and 9 kHz.
    naive = np.repeat(np.frombuffer(src, "<i2"), 3).tobytes()
    assert energy_fraction_above(naive, 24000, 4200) > 1e-3


def test_downsampling_does_not_alias_content_above_the_new_nyquist() -> None:
    # 15 kHz cannot exist at 24 kHz; a real resampler removes it instead of folding it to 9 kHz.
    out = resample_pcm16(sine_pcm(15000, 44100), 44100, 24000)
    assert np.sqrt(np.mean(pcm16_to_float(out) ** 2)) < 1e-3


def test_equal_rates_are_identity() -> None:
    pcm = sine_pcm(440, 24000, 0.1)
    assert resample_pcm16(pcm, 24000, 24000) == pcm


def test_empty_input_gives_empty_output() -> None:
    assert resample_pcm16(b"", 44100, 24000) == b""


def test_odd_length_and_bad_rates_are_rejected() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        resample_pcm16(b"\x00\x01\x02", 16000, 24000)
    with pytest.raises(ValueError, match="positive"):
        resample_pcm16(b"", 0, 24000)


def test_full_scale_input_clips_instead_of_wrapping() -> None:
    # A full-scale plateau overshoots when resampled (Gibbs ringing at its edges). Clipping keeps the
    # overshoot at +32767; int16 wrap-around would turn it into values near -32768.
    plateau = np.full(2400, 32767, dtype="<i2").tobytes()
    out = np.frombuffer(resample_pcm16(plateau, 16000, 24000), "<i2")
    assert out.max() == 32767
    assert out.min() > 0


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2 * 4410), max_size=8))
def test_stream_output_equals_one_shot_for_any_chunking(cuts: list[int]) -> None:
    pcm = sine_pcm(700, 44100, 0.1)
    bounds = [0, *sorted(cuts), len(pcm)]  # arbitrary byte offsets, so samples get split across chunks
    stream = StreamResampler(44100, 24000)
    out = b"".join(stream.process(pcm[a:b]) for a, b in itertools.pairwise(bounds))
    out += stream.flush()
    assert out == resample_pcm16(pcm, 44100, 24000)


def test_stream_is_reusable_after_flush_and_passes_through_equal_rates() -> None:
    pcm = sine_pcm(300, 16000, 0.05)
    stream = StreamResampler(16000, 24000)
    first = stream.process(pcm) + stream.flush()
    second = stream.process(pcm) + stream.flush()
    assert first == second == resample_pcm16(pcm, 16000, 24000)
    same = StreamResampler(24000, 24000)
    assert same.process(pcm[:3]) + same.process(pcm[3:]) + same.flush() == pcm


def test_to_mono_averages_channels() -> None:
    frames = np.array([[1000, 3000], [-2000, 0]], dtype=np.int16)
    assert np.frombuffer(to_mono_pcm16(frames), "<i2").tolist() == [2000, -1000]
    assert to_mono_pcm16(frames.reshape(-1).tobytes(), channels=2) == to_mono_pcm16(frames)
    floats = np.array([[0.5, 0.5], [-1.0, 0.0]], dtype=np.float32)
    assert np.frombuffer(to_mono_pcm16(floats), "<i2").tolist() == [16384, -16384]
    with pytest.raises(ValueError, match="channels"):
        to_mono_pcm16(np.zeros(3, dtype=np.int16), channels=2)
