"""The cost ledger by value: token splits, prices and overrides, and the tokens saved by summarisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest

from events.base import Event
from events.envelope import Envelope
from events.protocol import (
    AssistantAudioDelta,
    InputTranscriptCompleted,
    ItemTruncated,
    ResponseDone,
    SessionUpdated,
)
from events.summary import SummaryApplied, SummaryGenerated, SummaryRequested
from pipeline.models import DEFAULT_REALTIME_MODEL, DEFAULT_SUMMARY_MODEL, DEFAULT_TRANSCRIPTION_MODEL
from pipeline.projections.ledger import (
    DEFAULT_PRICES,
    PRICE_KEYS,
    PRICE_SOURCES,
    Ledger,
    ResponseCost,
    Tokens,
    load_prices,
    price_table,
)


# the seed's models: these tests' arithmetic uses their prices (the defaults are tested on their own below)
class Models(TypedDict):
    model: str
    transcription_model: str
    summary_model: str


SEED = Models(model="gpt-realtime", transcription_model="gpt-4o-transcribe", summary_model="gpt-4o-mini")

DOC_USAGE = {  # realtime-protocol.md §6.3
    "total_tokens": 320, "input_tokens": 132, "output_tokens": 188,
    "input_token_details": {"text_tokens": 59, "audio_tokens": 73, "image_tokens": 0, "cached_tokens": 64,
                            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 64, "image_tokens": 0}},
    "output_token_details": {"text_tokens": 41, "audio_tokens": 147},
}  # fmt: skip


def envs(*events: Event) -> list[Envelope]:
    return [Envelope(seq=i, t_ns=i, source="router", cause=None, event=e) for i, e in enumerate(events, start=1)]


def done(n: int, input_tokens: int, output_tokens: int) -> ResponseDone:
    usage = {"total_tokens": input_tokens + output_tokens, "input_tokens": input_tokens, "output_tokens": output_tokens}
    return ResponseDone(response_id=f"resp_{n}", status="completed", usage=usage)


def applied(summary_id: str) -> SummaryApplied:
    return SummaryApplied(summary_id=summary_id, replaced_turns=2, window_before=0)


SECOND = bytes(48_000)  # one second of 24 kHz PCM16


def speech(n: int, item_id: str, seconds: int) -> list[AssistantAudioDelta]:
    """Response ``resp_n``'s audio for ``item_id``, one delta a second."""
    return [AssistantAudioDelta(response_id=f"resp_{n}", item_id=item_id, pcm=SECOND) for _ in range(seconds)]


def test_realtime_usage_splits_text_audio_and_cached_and_is_priced() -> None:
    tokens = Tokens.from_realtime(DOC_USAGE)
    assert tokens == Tokens(input_text=59, input_audio=73, cached_text=0, cached_audio=64, output_text=41, output_audio=147)
    assert (tokens.input, tokens.cached, tokens.output, tokens.total) == (132, 64, 188, 320)
    # 59*4 + 9*32 + 64*0.40 (cached audio) + 41*16 + 147*64, per million
    assert tokens.cost(DEFAULT_PRICES["gpt-realtime"]) == pytest.approx((236 + 288 + 25.6 + 656 + 9408) / 1e6)


def test_usage_without_details_counts_as_text() -> None:
    assert Tokens.from_realtime({"input_tokens": 100, "output_tokens": 50}) == Tokens(input_text=100, output_text=50)
    assert Tokens.from_chat({"prompt_tokens": 80, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 64}}) == Tokens(
        input_text=80, cached_text=64, output_text=20
    )


def test_fold_of_responses_transcriptions_and_summaries() -> None:
    ledger = Ledger.fold(
        envs(
            done(1, 1000, 200),
            InputTranscriptCompleted(item_id="u1", transcript="hi", usage={
                "type": "tokens", "input_tokens": 60, "output_tokens": 10, "total_tokens": 70,
                "input_token_details": {"text_tokens": 0, "audio_tokens": 60}}),
            InputTranscriptCompleted(item_id="u2", transcript="hey", usage={"type": "duration", "seconds": 30.0}),
            SummaryRequested(summary_id="sum_001", messages=(), model="gpt-4o-mini", item_ids_to_replace=("u1",)),
            SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={"prompt_tokens": 1000, "completion_tokens": 100}),
        ),
        **SEED,
    )  # fmt: skip
    assert ledger.responses == [
        ResponseCost(response_id="resp_1", status="completed", tokens=Tokens(input_text=1000, output_text=200),
                     cost_usd=(1000 * 4 + 200 * 16) / 1e6)
    ]  # fmt: skip
    assert ledger.transcription.count == 2 and ledger.transcription.seconds == 30.0
    assert ledger.transcription.tokens == Tokens(input_audio=60, output_text=10)
    assert ledger.transcription.cost_usd == pytest.approx((60 * 6 + 10 * 10) / 1e6 + 0.5 * 0.006)
    assert ledger.summaries.cost_usd == pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6)
    assert ledger.total_usd == pytest.approx(0.0072 + 0.00046 + 0.003 + 0.00021)
    data = ledger.as_dict()
    assert data["responses"][0]["input"] == 1000 and data["responses"][0]["saved_input_tokens"] == 0
    assert data["summaries"]["model"] == "gpt-4o-mini" and data["summaries"]["count"] == 1
    assert data["total_usd"] == pytest.approx(ledger.total_usd)


def test_tokens_saved_are_the_window_drops_accumulated_over_the_later_responses() -> None:
    ledger = Ledger.fold(
        envs(
            done(1, 400, 100),
            done(2, 900, 100),  # window 1000
            applied("sum_001"),
            done(3, 300, 50),  # re-bills 300 instead of at least 1000: reduction 700
            done(4, 400, 50),  # still 700 fewer than without the summary
            applied("sum_002"),
            done(5, 200, 50),  # window before 450: reduction 250, so 950 in all
        )
    )
    assert ledger.reductions == [700, 250]
    assert [r.saved_input_tokens for r in ledger.responses] == [0, 0, 700, 700, 950]
    assert ledger.saved_input_tokens == 2350
    # all text, nothing cached: saved tokens at the cached price (0.40), less each first response's cache miss
    # at (4.00 - 0.40): resp_3 billed 300 uncached where 1000 - 900 = 100 would have been; resp_5 200 for 50
    usd = [(700 * 0.4 - 200 * 3.6) / 1e6, 700 * 0.4 / 1e6, (950 * 0.4 - 150 * 3.6) / 1e6]
    assert [r.saved_usd for r in ledger.responses[2:]] == pytest.approx(usd)
    assert ledger.saved_usd == pytest.approx(sum(usd)) == pytest.approx(-0.00032)  # a short talk: the misses win
    assert ledger.as_dict()["saved"] == {"reductions": [700, 250], "input_tokens": 2350, "usd": pytest.approx(-0.00032)}


def test_a_summary_that_did_not_shrink_the_window_saves_nothing() -> None:
    ledger = Ledger.fold(envs(done(1, 400, 100), applied("sum_001"), done(2, 600, 50)))
    assert ledger.reductions == [0] and ledger.saved_input_tokens == 0


def test_a_barge_in_carries_only_the_played_part_of_the_output() -> None:
    # a story of 60 s bills 850 + 1460; the user barges in at 5 s and the server keeps 5000 ms of it, so the
    # next response re-bills 850 + 1460 * 5/60 = 971 (rounded down) at least, not 2310: reduction 441, not 1780
    ledger = Ledger.fold(
        envs(
            *speech(1, "item_story", 60),
            done(1, 850, 1460),
            applied("sum_001"),
            ItemTruncated(item_id="item_story", audio_end_ms=5000),
            done(2, 530, 100),
        )
    )
    assert ledger.reductions == [850 + 1460 * 5000 // 60000 - 530] == [441]
    assert ledger.responses[-1].saved_input_tokens == 441


def test_the_played_fraction_is_over_all_the_audio_items_of_the_response() -> None:
    # 10 s truncated to 2.5 s, and 30 s heard whole: 32.5 s of 40 s, clamped to what was received for each item
    events = [*speech(1, "a1", 10), *speech(1, "a2", 30), done(1, 1000, 800)]
    cut = ItemTruncated(item_id="a1", audio_end_ms=2500)
    truncated = Ledger.fold(envs(*events, cut, applied("s"), done(2, 900, 0)))
    assert truncated.reductions == [1000 + 800 * 32_500 // 40_000 - 900] == [750]
    beyond = ItemTruncated(item_id="a1", audio_end_ms=99_000)  # at most what was received of that item
    assert Ledger.fold(envs(*events, beyond, applied("s"), done(2, 900, 0))).reductions == [1000 + 800 - 900]


def test_a_truncation_before_the_cancelled_responses_done_is_applied() -> None:
    ledger = Ledger.fold(
        envs(
            *speech(1, "item_story", 20),
            ItemTruncated(item_id="item_story", audio_end_ms=4000),  # barge-in: truncate, then cancel
            ResponseDone(response_id="resp_1", status="cancelled",
                         usage={"total_tokens": 1350, "input_tokens": 850, "output_tokens": 500}),
            applied("sum_001"),
            done(2, 530, 100),
        )
    )  # fmt: skip
    assert ledger.reductions == [850 + 500 * 4000 // 20000 - 530] == [420]


def test_only_the_last_responses_speech_counts_and_a_response_without_audio_carries_all_its_output() -> None:
    ledger = Ledger.fold(
        envs(
            *speech(1, "a1", 10),
            done(1, 400, 300),
            ItemTruncated(item_id="a1", audio_end_ms=1000),  # cut, but a later response is the one measured
            done(2, 800, 200),  # text or a tool call: no audio, all of its output stays
            applied("sum_001"),
            done(3, 300, 50),
            *speech(4, "a4", 10),
            done(4, 400, 100),  # spoken and heard whole
            applied("sum_002"),
            done(5, 200, 50),
        )
    )
    assert ledger.reductions == [800 + 200 - 300, 400 + 100 - 200] == [700, 300]


def usage(text: int, audio: int, cached_text: int = 0, cached_audio: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": text + audio, "output_tokens": 0, "total_tokens": text + audio,
        "input_token_details": {"text_tokens": text, "audio_tokens": audio, "cached_tokens": cached_text + cached_audio,
                                "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": cached_audio}},
    }  # fmt: skip


def test_saved_dollars_are_cached_prices_less_the_cache_miss_with_the_summary_text_priced_as_text() -> None:
    # before: 3000 tokens (1000 text, 2000 audio), 2000 of them cached. A summary of 120 tokens replaces
    # most of it: the next response bills 600 (400 text, 200 audio), 256 cached (the instructions).
    summary = SummaryGenerated(summary_id="sum_001", text="x" * 400, usage={"prompt_tokens": 900, "completion_tokens": 120})
    ledger = Ledger.fold(
        envs(
            ResponseDone(response_id="r1", status="completed", usage=usage(1000, 2000, cached_text=1000, cached_audio=1000)),
            summary,
            applied("sum_001"),
            ResponseDone(response_id="r2", status="completed", usage=usage(400, 200, cached_text=256)),
            ResponseDone(response_id="r3", status="completed", usage=usage(450, 200, cached_text=576)),
        )
    )
    assert ledger.reductions == [2400]
    # without the summary r2 would have billed 3000 input, all cached but the 600 + 2400 - 3000 = 0 new
    # tokens; it billed 344 uncached: 120 of them the summary's text (4.00 - 0.40), 224 the kept turns at
    # r2's uncached mix (144 text, 200 audio: 1.52 + ... per token) less the cached price
    uncached_mix = (144 * 4.0 + 200 * 32.0) / 344
    cached_mix = (400 * 0.40 + 200 * 0.40) / 600
    r2 = (2400 * cached_mix - 120 * 3.6 - 224 * (uncached_mix - cached_mix)) / 1e6
    assert ledger.responses[1].saved_usd == pytest.approx(r2)
    assert ledger.responses[2].saved_usd == pytest.approx(2400 * 0.40 / 1e6)  # from then on: cached prices only
    assert "saved by summarisation: 4,800 input tokens (-$0.0" in ledger.render()


def test_prices_override_and_model_names() -> None:
    assert price_table(DEFAULT_PRICES, "gpt-realtime-2025-08-28") == DEFAULT_PRICES["gpt-realtime"]
    assert price_table(DEFAULT_PRICES, "gpt-realtime-mini-2025-10-06") == DEFAULT_PRICES["gpt-realtime-mini"]
    cheap = Ledger.fold(envs(done(1, 1000, 0)), prices={"gpt-realtime": {"text_input": 1.0}}, **SEED)
    assert cheap.responses[0].cost_usd == pytest.approx(0.001)
    assert cheap.prices["gpt-realtime"]["audio_output"] == 64.0  # only the named key changed
    unknown = Ledger.fold(envs(done(1, 1000, 0)), model="my-model")
    assert unknown.responses[0].cost_usd is None and unknown.total_usd is None
    with pytest.raises(ValueError, match="unknown key 'txt_input'"):
        Ledger(prices={"gpt-realtime": {"txt_input": 1.0}})
    with pytest.raises(ValueError, match="non-negative"):
        Ledger(prices={"gpt-realtime": {"text_input": -1}})


def test_the_session_names_the_models_priced() -> None:
    session: dict[str, Any] = {"model": "gpt-realtime-mini", "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}
    ledger = Ledger.fold(envs(SessionUpdated(session=session), done(1, 1000, 0)))
    assert (ledger.model, ledger.transcription_model) == ("gpt-realtime-mini", "gpt-4o-mini-transcribe")
    assert ledger.responses[0].cost_usd == pytest.approx(1000 * 0.60 / 1e6)


def test_load_prices_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('["gpt-realtime"]\naudio_output = 50.0\n\n[my-model]\ntext_input = 1\ntext_output = 2\n')
    prices = load_prices(path)
    assert prices["gpt-realtime"]["audio_output"] == 50.0 and prices["gpt-realtime"]["text_input"] == 4.0
    assert prices["my-model"] == {"text_input": 1.0, "text_output": 2.0}
    nested = tmp_path / "nested.toml"
    nested.write_text('[prices."gpt-4o-mini"]\ntext_output = 0.5\n')
    assert load_prices(nested)["gpt-4o-mini"]["text_output"] == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text("gpt-realtime = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_prices(bad)


def test_render_is_a_small_table() -> None:
    ledger = Ledger.fold(
        envs(
            done(1, 900, 100),
            SummaryGenerated(summary_id="sum_001", text="R.", usage={"prompt_tokens": 1000, "completion_tokens": 100}),
            applied("sum_001"),
            done(2, 300, 100),
        ),
        **SEED,
    )
    assert ledger.render() == "\n".join(
        [
            "                                 count  input  cached  output  total     cost",
            "  resp_1 completed                        900       0     100  1,000  $0.0052",
            "  resp_2 completed  (saved 700)           300       0     100    400  $0.0028",
            "realtime gpt-realtime                2  1,200       0     200  1,400  $0.0080",
            "transcription gpt-4o-transcribe      0      0       0       0      0  $0.0000",
            "summaries gpt-4o-mini                1  1,000       0     100  1,100  $0.0002",
            "total                                                                 $0.0082",
            "saved by summarisation: 700 input tokens (-$0.0004 net of cache misses) from 1 summary costing $0.0002",
        ]
    )


def test_the_defaults_are_priced_and_every_price_names_its_source() -> None:
    for model in (DEFAULT_REALTIME_MODEL, DEFAULT_TRANSCRIPTION_MODEL, DEFAULT_SUMMARY_MODEL):
        assert model in DEFAULT_PRICES, model  # by name, not through a prefix of an older model
    assert set(PRICE_SOURCES) == set(DEFAULT_PRICES)
    for model, table in DEFAULT_PRICES.items():
        assert table and set(table) <= PRICE_KEYS, model
        source = PRICE_SOURCES[model]
        assert (source.url and source.read_on) or "no source" in str(source), model
    # the realtime default prices all six token kinds; the others what their model bills
    assert set(DEFAULT_PRICES[DEFAULT_REALTIME_MODEL]) == PRICE_KEYS - {"per_minute"}
    assert "per_minute" in DEFAULT_PRICES[DEFAULT_TRANSCRIPTION_MODEL]
    assert {"text_input", "text_cached_input", "text_output"} <= set(DEFAULT_PRICES[DEFAULT_SUMMARY_MODEL])


def test_a_session_on_the_defaults_is_priced_at_their_prices() -> None:
    ledger = Ledger.fold(
        envs(
            ResponseDone(response_id="resp_1", status="completed", usage=DOC_USAGE),
            InputTranscriptCompleted(item_id="u1", transcript="hi", usage={"type": "duration", "seconds": 40.0}),
            SummaryRequested(summary_id="sum_001", messages=(), model=DEFAULT_SUMMARY_MODEL, item_ids_to_replace=("u1",)),
            SummaryGenerated(summary_id="sum_001", text="R.", usage={
                "prompt_tokens": 1000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 200}}),
        )
    )  # fmt: skip
    assert (ledger.model, ledger.transcription_model, ledger.summary_model) == (
        "gpt-realtime-2.1", "gpt-transcribe", "gpt-5.4-mini"
    )  # fmt: skip
    # gpt-realtime-2.1: text output at $24 (gpt-realtime's was $16): 59*4 + 9*32 + 64*0.40 + 41*24 + 147*64
    assert ledger.responses[0].cost_usd == pytest.approx((236 + 288 + 25.6 + 984 + 9408) / 1e6)
    assert ledger.transcription.cost_usd == pytest.approx(40 / 60 * 0.0045)
    assert ledger.summaries.cost_usd == pytest.approx((800 * 0.75 + 200 * 0.075 + 100 * 4.50) / 1e6)


def test_a_bill_the_table_cannot_price_is_unknown_not_free() -> None:
    tokens = {"type": "tokens", "input_tokens": 60, "output_tokens": 10, "total_tokens": 70}
    by_tokens = Ledger.fold(envs(InputTranscriptCompleted(item_id="u1", transcript="hi", usage=tokens)))
    assert by_tokens.transcription_model == "gpt-transcribe"  # priced by the minute only
    assert by_tokens.transcription.cost_usd is None and by_tokens.total_usd is None
    minutes = {"type": "duration", "seconds": 30.0}
    no_minute_price = Ledger.fold(envs(InputTranscriptCompleted(item_id="u1", transcript="hi", usage=minutes)),
                                  prices={"tokens-only": {"audio_input": 1.0}}, transcription_model="tokens-only")  # fmt: skip
    assert no_minute_price.transcription.cost_usd is None


def test_snapshots_and_versions_find_their_own_prices() -> None:
    assert price_table(DEFAULT_PRICES, "gpt-realtime-2.1-2026-06-01") == DEFAULT_PRICES["gpt-realtime-2.1"]
    assert price_table(DEFAULT_PRICES, "gpt-realtime-2.1-mini-2026-06-01") == DEFAULT_PRICES["gpt-realtime-2.1-mini"]
    assert price_table(DEFAULT_PRICES, "gpt-realtime-2025-08-28") == DEFAULT_PRICES["gpt-realtime"]  # not -2's
    assert price_table(DEFAULT_PRICES, "gpt-5.4-mini-2026-03-17") == DEFAULT_PRICES["gpt-5.4-mini"]
    assert price_table(DEFAULT_PRICES, "gpt-realtime-2.1-preview") == DEFAULT_PRICES["gpt-realtime-2.1"]
    assert price_table(DEFAULT_PRICES, "gpt-realtime-2.5") is None  # a version we do not know: no guess
    assert price_table(DEFAULT_PRICES, "gpt-realtime-3") is None


def test_a_prices_file_overrides_a_default_model(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('["gpt-realtime-2.1"]\ntext_output = 20\n\n["gpt-transcribe"]\nper_minute = 0.01\n')
    prices = load_prices(path)
    assert prices["gpt-realtime-2.1"]["text_output"] == 20.0 and prices["gpt-realtime-2.1"]["audio_output"] == 64.0
    ledger = Ledger.fold(envs(InputTranscriptCompleted(item_id="u1", transcript="hi", usage={"type": "duration", "seconds": 60.0})),
                         prices=prices)  # fmt: skip
    assert ledger.transcription.cost_usd == pytest.approx(0.01)


def test_duration_billed_transcription_models_are_priced_by_the_minute() -> None:
    from pipeline.models import DURATION_BILLED_TRANSCRIPTION, TRANSCRIPTION_MODELS

    assert DURATION_BILLED_TRANSCRIPTION <= set(TRANSCRIPTION_MODELS)
    assert DEFAULT_TRANSCRIPTION_MODEL in DURATION_BILLED_TRANSCRIPTION
    for model in DURATION_BILLED_TRANSCRIPTION & set(DEFAULT_PRICES):
        assert set(DEFAULT_PRICES[model]) == {"per_minute"}, model
