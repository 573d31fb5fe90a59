"""The ledger's default price table, each model's prices with where they come from.

USD per 1M tokens (``per_minute``: USD per minute of audio, for duration-billed transcription). List prices as
read on the date given, from the page named: editable, and overridable per run (``rtpipe run --prices
FILE.toml``, see ``ledger.load_prices``). A price with no source found says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = ["DEFAULT_PRICES", "PRICE_KEYS", "PRICE_SOURCES", "PriceSource"]

PRICE_KEYS = frozenset(
    {"text_input", "text_cached_input", "text_output", "audio_input", "audio_cached_input", "audio_output", "per_minute"}
)
READ_ON = "2026-12-02"  # the day these pages were read (their stored copies; there was no network)
_MODELS = "https://developers.openai.com/api/docs/models/"


@attrs.frozen
class PriceSource:
    """Where a model's prices come from: the page (None: none found), the day it was read, and a note."""

    url: str | None
    read_on: str | None = READ_ON
    note: str = ""

    def __str__(self) -> str:
        where = f"{self.url} (read {self.read_on})" if self.url else "no source found"
        return f"{where}; {self.note}" if self.note else where


_TABLE: dict[str, tuple[dict[str, float], PriceSource]] = {
    # -- the defaults (pipeline/models.py) and their families --------------------------------------------
    "gpt-realtime-2.1": (
        {"text_input": 4.00, "text_cached_input": 0.40, "text_output": 24.00,
         "audio_input": 32.00, "audio_cached_input": 0.40, "audio_output": 64.00},
        PriceSource("https://developers.openai.com/zh-Hans/api/docs/models/gpt-realtime-2.1",
                    note="the model page (its ja-JP and ko-KR copies give the same prices)"),
    ),
    "gpt-realtime-2": (
        {"text_input": 4.00, "text_cached_input": 0.40, "text_output": 24.00,
         "audio_input": 32.00, "audio_cached_input": 0.40, "audio_output": 64.00},
        PriceSource(_MODELS + "gpt-realtime-2"),
    ),
    "gpt-realtime-2.1-mini": (
        {"text_input": 0.60, "text_cached_input": 0.06, "text_output": 2.40,
         "audio_input": 10.00, "audio_cached_input": 0.30, "audio_output": 20.00},
        PriceSource(_MODELS + "gpt-realtime-2.1-mini.md"),
    ),
    "gpt-realtime-1.5": (
        {"text_input": 4.00, "text_cached_input": 0.40, "text_output": 16.00,
         "audio_input": 32.00, "audio_cached_input": 0.40, "audio_output": 64.00},
        PriceSource(_MODELS + "gpt-realtime-1.5.md"),
    ),
    "gpt-transcribe": (
        {"per_minute": 0.0045},
        PriceSource(_MODELS + "gpt-transcribe", note="billed by audio duration; the page lists no token prices"),
    ),
    "gpt-live-transcribe": (
        {"per_minute": 0.017},
        PriceSource(_MODELS + "gpt-live-transcribe", note="billed by audio duration"),
    ),
    "gpt-realtime-whisper": (
        {"per_minute": 0.017},
        PriceSource(_MODELS + "gpt-realtime-whisper", note="billed by audio duration"),
    ),
    "gpt-5.4-mini": (
        {"text_input": 0.75, "text_cached_input": 0.075, "text_output": 4.50},
        PriceSource("https://futureagi.com/llm-cost-calculator/openai/gpt-5-4-mini",
                    note="a secondary source (it says verified 2026-05-12); docs.rs/crate/adk-model (its "
                         "src/openai/pricing.rs, March 2026) gives the same three prices; the official page ("
                         + _MODELS + "gpt-5.4-mini) was not among the stored pages"),
    ),
    # -- the seed's models, kept (they stay selectable) ---------------------------------------------------
    "gpt-realtime": (
        {"text_input": 4.00, "text_cached_input": 0.40, "text_output": 16.00,
         "audio_input": 32.00, "audio_cached_input": 0.40, "audio_output": 64.00},
        PriceSource("https://developers.openai.com/api/docs/models/compare?model=gpt-realtime",
                    note="text prices from the page; the audio prices are the seed's (that page shows none) and "
                         "match gpt-realtime-1.5's"),
    ),
    "gpt-realtime-mini": (
        {"text_input": 0.60, "text_cached_input": 0.06, "text_output": 2.40,
         "audio_input": 10.00, "audio_cached_input": 0.30, "audio_output": 20.00},
        PriceSource(_MODELS + "gpt-realtime-2.1-mini.md",
                    note="the seed's prices; that page's quick comparison gives GPT-Realtime Mini the same "
                         "text input ($0.60); no page of its own was found"),
    ),
    "gpt-4o-transcribe": (
        {"text_input": 2.50, "audio_input": 6.00, "text_output": 10.00, "per_minute": 0.006},
        PriceSource(_MODELS + "gpt-4o-transcribe.md",
                    note="the seed's prices, kept; that page now lists audio tokens at $2.50 in / $10 out and no "
                         "per-minute price, so audio_input and per_minute are unconfirmed"),
    ),
    "gpt-4o-mini-transcribe": (
        {"text_input": 1.25, "audio_input": 3.00, "text_output": 5.00, "per_minute": 0.003},
        PriceSource("https://developers.openai.com/api/docs/models/compare?model=gpt-4o-mini-transcribe",
                    note="the seed's prices, kept; that page lists audio tokens at $1.25 in / $5 out, so "
                         "audio_input and per_minute are unconfirmed"),
    ),
    "gpt-4o-mini": (
        {"text_input": 0.15, "text_cached_input": 0.075, "text_output": 0.60},
        PriceSource("https://vercel.com/ai-gateway/models/gpt-4o-mini/api",
                    note="a secondary source for text_input ($0.15) only; cached input and output are the seed's, "
                         "no source found for them"),
    ),
}  # fmt: skip

DEFAULT_PRICES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {model: MappingProxyType(prices) for model, (prices, _) in _TABLE.items()}
)
PRICE_SOURCES: Mapping[str, PriceSource] = MappingProxyType({model: source for model, (_, source) in _TABLE.items()})
