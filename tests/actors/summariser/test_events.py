"""Summary events survive the journal codec unchanged, and refuse what cannot be."""

from __future__ import annotations

import pytest

from events.base import Event
from events.codec import decode_event, encode_event
from events.summary import SummaryAbandoned, SummaryApplied, SummaryFailed, SummaryGenerated, SummaryRequested

EVENTS: list[Event] = [
    SummaryRequested(
        summary_id="sum_001",
        messages=[{"role": "system", "content": "Summarise in French."}, {"role": "user", "content": "user: hi"}],
        model="gpt-4o-mini",
        item_ids_to_replace=["u1", "a1"],
    ),
    SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={"prompt_tokens": 10, "completion_tokens": 3}),
    SummaryFailed(summary_id="sum_001", error="APIConnectionError: Connection error."),
    SummaryAbandoned(summary_id="sum_001", reason="the summary model failed"),
    SummaryApplied(summary_id="sum_001", replaced_turns=2, window_before=900, replaced_item_ids=["u1", "a1"]),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: Event) -> None:
    assert decode_event(encode_event(event)) == event


def test_edges_are_the_llm_outcomes_only() -> None:
    assert [type(e).__name__ for e in EVENTS if e.EDGE] == ["SummaryGenerated", "SummaryFailed"]


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="summary_id"):
        SummaryAbandoned(summary_id="", reason="x")
    with pytest.raises(ValueError, match="replaced_turns"):
        SummaryApplied(summary_id="sum_001", replaced_turns=-1)
