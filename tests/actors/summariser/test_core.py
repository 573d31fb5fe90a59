"""The summariser core by value: trigger, candidates, the insert-then-delete protocol, and the seed's defects."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from actors.summariser.core import SUMMARY_TURNS, Phase, SummariserCore, summary_prompt
from events import commands
from events.base import Event
from events.envelope import Envelope
from events.protocol import FunctionCallRequested, ItemAdded, ItemDeleted, ItemDone, ResponseDone, ServerError
from events.runtime import TimerCancelled, TimerFired, TimerRequested
from events.summary import (
    SummaryAbandoned,
    SummaryApplied,
    SummaryFailed,
    SummaryGenerated,
    SummaryRequested,
    SummarySkipped,
    SummaryStarted,
)
from events.transcripts import TranscriptResolved, TranscriptUnavailable
from pipeline.models import DEFAULT_SUMMARY_MODEL

PROMPT = summary_prompt("French", "paragraph")


class Feeder:
    def __init__(self, core: SummariserCore) -> None:
        self.core = core
        self.seq = 0
        self.responses = 0

    def __call__(self, *events: Event) -> Sequence[Event]:
        out: list[Event] = []
        for event in events:
            self.seq += 1
            out = list(self.core.handle(Envelope(seq=self.seq, t_ns=self.seq, source="router", cause=None, event=event)))
        return out  # what the last event produced

    def done(self, total: int) -> Sequence[Event]:
        self.responses += 1
        return self(ResponseDone(response_id=f"resp_{self.responses}", status="completed", usage={"total_tokens": total}))


def user(item_id: str, text: str | None = None) -> list[Event]:
    added: list[Event] = [ItemAdded(item_id=item_id, item_type="message", role="user", status="completed")]
    return added + ([TranscriptResolved(item_id=item_id, text=text, via="event")] if text is not None else [])


def assistant(item_id: str, text: str) -> list[Event]:
    return [
        ItemAdded(item_id=item_id, item_type="message", role="assistant", status="in_progress"),
        ItemDone(item_id=item_id, item_type="message", role="assistant", status="completed", text=text),
    ]


def talk(feed: Feeder, *pairs: tuple[str, str]) -> None:
    """User/assistant exchanges u<n>/a<n> with the given words."""
    for said, answered in pairs:
        n = 1 + sum(1 for role in feed.core.conversation.totals.elements() if role == "user")
        feed(*user(f"u{n}", said), *assistant(f"a{n}", answered))


def request(summary_id: str, lines: list[str], ids: tuple[str, ...], prompt: str = PROMPT) -> SummaryRequested:
    return SummaryRequested(
        summary_id=summary_id,
        messages=({"role": "system", "content": prompt}, {"role": "user", "content": "\n".join(lines)}),
        model=DEFAULT_SUMMARY_MODEL,
        item_ids_to_replace=ids,
    )


def started(summary_id: str, feed: Feeder, window: int) -> SummaryStarted:
    """The verdict on the response ``feed.done`` just sent."""
    return SummaryStarted(summary_id=summary_id, response_id=f"resp_{feed.responses}", window=window)


def skipped(feed: Feeder, window: int, reason: str) -> SummarySkipped:
    return SummarySkipped(response_id=f"resp_{feed.responses}", window=window, reason=reason)


def phase_of(core: SummariserCore) -> Phase:
    return core.phase  # (a call, so mypy does not narrow the phase across handle())


def new_core(**kwargs: object) -> tuple[SummariserCore, Feeder]:
    core = SummariserCore.from_config({"summary_trigger": 600, "summary_turns": SUMMARY_TURNS, **kwargs})
    return core, Feeder(core)


def apply_summary(feed: Feeder, summary_id: str, text: str, ids: Sequence[str]) -> Sequence[Event]:
    """Generated -> added -> every delete acknowledged; returns the outputs of the last ack."""
    feed(SummaryGenerated(summary_id=summary_id, text=text, usage={"total_tokens": 10}))
    feed(ItemAdded(item_id=summary_id, item_type="message", role="system", status="completed", text=text))
    out: Sequence[Event] = []
    for item_id in ids:
        out = feed(ItemDeleted(item_id=item_id))
    return out


def test_below_the_trigger_nothing_happens_and_too_few_turns_is_skipped_with_the_reason() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "hi"))
    assert feed.done(5000) == [skipped(feed, 5000, "2 turns, and the last 2 are kept")]
    talk(feed, ("weather in Paris", "sunny"))
    assert feed.done(599) == []  # below the trigger: no verdict at all
    assert core.phase is Phase.IDLE


def test_disabled_never_summarises() -> None:
    _, feed = new_core(summary_enabled=False)
    talk(feed, ("hello", "hi"), ("weather", "sunny"), ("time", "noon"))
    assert feed.done(10_000) == []


def test_the_whole_protocol_insert_at_root_then_delete_each_then_applied() -> None:
    core, feed = new_core()
    talk(feed, ("hello there", "Hi!"), ("weather in\nParis", "Sunny."))
    assert feed.done(700) == [
        started("sum_001", feed, 700),
        request("sum_001", ["user: hello there", "assistant: Hi!"], ("u1", "a1")),
    ]
    assert core.phase is Phase.GENERATING
    assert feed.done(800) == [skipped(feed, 800, "sum_001 is still in progress")]  # one summary at a time

    generated = SummaryGenerated(summary_id="sum_001", text="  Résumé: bonjour.  ", usage={"total_tokens": 30})
    assert feed(generated) == [
        commands.item_create("summariser_0001", commands.system_message("sum_001", "Résumé: bonjour."), "root"),
        TimerRequested(key="summariser:1:ack", delay_ms=5000),
    ]
    added = ItemAdded(item_id="sum_001", item_type="message", role="system", status="completed", text="Résumé: bonjour.")
    assert feed(added) == [
        TimerCancelled(key="summariser:1:ack"),
        commands.item_delete("summariser_0002", "u1"),
        commands.item_delete("summariser_0003", "a1"),
        TimerRequested(key="summariser:1:deletes", delay_ms=5000),
    ]
    assert feed(ItemDeleted(item_id="u1")) == []
    assert feed(ItemDeleted(item_id="a1")) == [
        TimerCancelled(key="summariser:1:deletes"),
        SummaryApplied(summary_id="sum_001", replaced_turns=2, window_before=700, replaced_item_ids=("u1", "a1")),
    ]
    assert core.conversation.item_ids == ("sum_001", "u2", "a2")
    assert phase_of(core) is Phase.IDLE


def test_a_later_summary_folds_the_previous_one_in() -> None:
    _, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    apply_summary(feed, "sum_001", "Résumé un.", ["u1", "a1"])
    talk(feed, ("time", "Noon."))
    lines = ["system: Résumé un.", "user: weather", "assistant: Sunny."]
    assert feed.done(900) == [started("sum_002", feed, 900), request("sum_002", lines, ("sum_001", "u2", "a2"))]
    out = apply_summary(feed, "sum_002", "Résumé deux.", ["sum_001", "u2", "a2"])
    assert out[-1] == SummaryApplied(
        summary_id="sum_002", replaced_turns=2, window_before=900, replaced_item_ids=("sum_001", "u2", "a2")
    )


def test_right_after_a_summary_only_the_summary_is_old_so_nothing_happens() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    apply_summary(feed, "sum_001", "Résumé.", ["u1", "a1"])
    assert core.conversation.item_ids == ("sum_001", "u2", "a2")
    # only sum_001 is older than the last two turns: no re-summary of a summary
    assert feed.done(650) == [skipped(feed, 650, "nothing to summarise: no older turn has a transcript")]


def test_a_pending_transcript_is_waited_for_then_summarised() -> None:
    core, feed = new_core()
    feed(*user("u1"), *assistant("a1", "Hi."))
    talk(feed, ("weather", "Sunny."))
    assert feed.done(700) == [started("sum_001", feed, 700), TimerRequested(key="summariser:1:transcripts", delay_ms=3000)]
    assert core.phase is Phase.AWAITING_TRANSCRIPTS
    assert feed(TranscriptResolved(item_id="u1", text="hello late", via="retrieve")) == [
        TimerCancelled(key="summariser:1:transcripts"),
        request("sum_001", ["user: hello late", "assistant: Hi."], ("u1", "a1")),
    ]


def test_seed_defect_a_turn_without_transcript_is_kept_never_deleted_unsummarised() -> None:
    core, feed = new_core(summary_transcript_wait_ms=1000)
    feed(*user("u1"), *assistant("a1", "Hi."), *user("u2"), *assistant("a2", "Sure."))
    feed(TranscriptUnavailable(item_id="u2", reason="failed", detail="asr"))
    talk(feed, ("weather", "Sunny."))  # u3/a3 are kept as the last two
    assert feed.done(700) == [started("sum_001", feed, 700), TimerRequested(key="summariser:1:transcripts", delay_ms=1000)]
    # u1 is still pending when the wait runs out: summarise what has text, keep u1 and u2 verbatim
    assert feed(TimerFired(key="summariser:1:transcripts", requested_seq=1)) == [
        request("sum_001", ["assistant: Hi.", "assistant: Sure."], ("a1", "a2"))
    ]
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    out = feed(ItemAdded(item_id="sum_001", item_type="message", role="system", status="completed", text="Résumé."))
    deleted = [c.body["item_id"] for c in out if isinstance(c, commands.ClientCommand)]
    assert deleted == ["a1", "a2"]
    feed(ItemDeleted(item_id="a1"), ItemDeleted(item_id="a2"))
    assert core.conversation.item_ids == ("sum_001", "u1", "u2", "u3", "a3")


def test_seed_defect_nothing_to_summarise_inserts_nothing_and_deletes_nothing() -> None:
    core, feed = new_core(summary_transcript_wait_ms=1000)
    feed(*user("u1"), *user("u2"))
    feed(TranscriptUnavailable(item_id="u2", reason="timed_out"))
    talk(feed, ("weather", "Sunny."))
    assert feed.done(700) == [started("sum_001", feed, 700), TimerRequested(key="summariser:1:transcripts", delay_ms=1000)]
    # no request, no empty summary: the attempt ends with nothing deleted
    assert feed(TimerFired(key="summariser:1:transcripts", requested_seq=1)) == [
        SummaryAbandoned(summary_id="sum_001", reason="nothing left to summarise: the older turns have no transcript")
    ]
    assert core.phase is Phase.IDLE
    # every old turn is without text from the start: not even a wait
    feed(TranscriptUnavailable(item_id="u1", reason="failed"))
    assert feed.done(800) == [skipped(feed, 800, "nothing to summarise: no older turn has a transcript")]


def test_a_stale_timer_is_ignored() -> None:
    core, feed = new_core()
    feed(*user("u1"), *assistant("a1", "Hi."))
    talk(feed, ("weather", "Sunny."))
    feed.done(700)
    feed(TranscriptResolved(item_id="u1", text="hello", via="event"))
    assert feed(TimerFired(key="summariser:1:transcripts", requested_seq=1)) == []
    assert core.phase is Phase.GENERATING


def test_llm_failure_leaves_the_conversation_and_retries_with_the_same_id_after_the_next_response() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    assert feed(SummaryFailed(summary_id="sum_001", error="APIConnectionError: Connection error.")) == [
        SummaryAbandoned(summary_id="sum_001", reason="the summary model failed: APIConnectionError: Connection error.")
    ]
    assert core.conversation.item_ids == ("u1", "a1", "u2", "a2")
    talk(feed, ("time", "Noon."))
    lines = ["user: hello", "assistant: Hi.", "user: weather", "assistant: Sunny."]
    assert feed.done(900) == [started("sum_001", feed, 900), request("sum_001", lines, ("u1", "a1", "u2", "a2"))]


def test_an_empty_summary_is_never_inserted() -> None:
    _, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    assert feed(SummaryGenerated(summary_id="sum_001", text=" \n", usage={})) == [
        SummaryAbandoned(summary_id="sum_001", reason="the summary model returned an empty summary")
    ]


def test_a_server_error_on_the_create_abandons_without_deleting_and_the_id_moves_on() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    error = ServerError(error_type="invalid_request_error", code="bad", message="no", client_event_id="summariser_0001")
    assert feed(error) == [
        TimerCancelled(key="summariser:1:ack"),
        SummaryAbandoned(summary_id="sum_001", reason="the server refused the summary item: server error [bad]: no"),
    ]
    assert core.conversation.item_ids == ("u1", "a1", "u2", "a2")
    assert feed(ServerError(message="other", client_event_id="conductor_0001")) == []
    out = feed.done(800)
    assert [type(e) for e in out] == [SummaryStarted, SummaryRequested] and isinstance(out[1], SummaryRequested)
    assert out[1].summary_id == "sum_002"


def test_no_added_acknowledgement_abandons_and_deletes_nothing() -> None:
    core, feed = new_core(summary_ack_timeout_ms=2000)
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    assert feed(TimerFired(key="summariser:1:ack", requested_seq=3)) == [
        SummaryAbandoned(summary_id="sum_001", reason="no conversation.item.added for sum_001 within 2000 ms")
    ]
    assert core.phase is Phase.IDLE


def test_a_refused_delete_is_reported_and_the_item_stays() -> None:
    core, feed = new_core()
    talk(feed, ("hello", "Hi."), ("weather", "Sunny."))
    feed.done(700)
    feed(SummaryGenerated(summary_id="sum_001", text="Résumé.", usage={}))
    feed(ItemAdded(item_id="sum_001", item_type="message", role="system", status="completed", text="Résumé."))
    assert feed(ItemDeleted(item_id="u1")) == []
    assert feed(ServerError(code="item_not_found", message="gone", client_event_id="summariser_0003")) == [
        TimerCancelled(key="summariser:1:deletes"),
        SummaryApplied(
            summary_id="sum_001", replaced_turns=1, window_before=700, replaced_item_ids=("u1",), undeleted_item_ids=("a1",)
        ),
    ]
    assert core.conversation.item_ids == ("sum_001", "a1", "u2", "a2")


def test_a_function_call_stays_with_its_output() -> None:
    _, feed = new_core(keep_last_turns=2)
    talk(feed, ("hello", "Hi."))
    feed(*user("u2", "weather in Paris"))
    feed(ItemAdded(item_id="fc1", item_type="function_call", call_id="c1", name="get_weather"))
    feed(FunctionCallRequested(response_id="r", item_id="fc1", call_id="c1", name="get_weather", arguments='{"location":"Paris"}'))
    feed(ItemAdded(item_id="fo1", item_type="function_call_output", call_id="c1", text='{"temperature":"21°C"}'))
    feed(*assistant("a2", "It is 21 degrees."))
    # the last two turns are the question u2 and its whole answer (fc1, fo1, a2): u1, a1 are summarised
    lines = ["user: hello", "assistant: Hi."]
    assert feed.done(700) == [started("sum_001", feed, 700), request("sum_001", lines, ("u1", "a1"))]


def test_a_turn_is_a_question_or_the_whole_answer_to_it_preamble_included() -> None:
    """The current models answer in several items (a spoken preamble, then the answer): keeping the last two
    turns keeps the last question with every item of its answer, never the answer without its question."""
    _, feed = new_core(keep_last_turns=2)
    talk(feed, ("hello", "Hi."))
    talk(feed, ("what time is it", "It is noon."))
    feed(*user("u3", "tell me a short story"))
    feed(*assistant("p3", "Sure, here it is."))
    feed(*assistant("a3", "Once upon a time."))
    lines = ["user: hello", "assistant: Hi.", "user: what time is it", "assistant: It is noon."]
    assert feed.done(700) == [started("sum_001", feed, 700), request("sum_001", lines, ("u1", "a1", "u2", "a2"))]


def test_a_call_and_its_output_are_summarised_together() -> None:
    _, feed = new_core()
    feed(*user("u1", "weather"))
    feed(ItemAdded(item_id="fc1", item_type="function_call", call_id="c1", name="get_weather"))
    feed(FunctionCallRequested(response_id="r", item_id="fc1", call_id="c1", name="get_weather", arguments="{}"))
    feed(ItemAdded(item_id="fo1", item_type="function_call_output", call_id="c1", text='{"t":1}'))
    talk(feed, ("time", "Noon."))
    lines = ["user: weather", "assistant: (called the tool get_weather({}))", 'tool: {"t":1}']
    assert feed.done(700) == [started("sum_001", feed, 700), request("sum_001", lines, ("u1", "fc1", "fo1"))]


@pytest.mark.parametrize(
    ("style", "words"),
    [("paragraph", "one concise paragraph"), ("bullets", "bullet points"), ("json", "JSON object")],
)
def test_language_and_style_shape_the_prompt(style: str, words: str) -> None:
    _, feed = new_core(summary_language="English", summary_style=style, summary_model="m1", keep_last_turns=0)
    talk(feed, ("hello", "Hi."))
    [_, req] = feed.done(700)
    assert isinstance(req, SummaryRequested) and req.model == "m1"
    prompt = req.messages[0]["content"]
    assert "in English" in prompt and words in prompt and "French" not in prompt


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="summary_style"):
        SummariserCore.from_config({"summary_style": "haiku"})


def test_a_journal_from_before_exchanges_counts_items_as_it_was_recorded() -> None:
    """Replay determinism: a header without ``summary_turns`` (recorded before a kept turn meant a question
    or its whole answer) keeps the item count it was recorded with."""
    core = SummariserCore.from_config({"summary_trigger": 600, "keep_last_turns": 2})
    feed = Feeder(core)
    talk(feed, ("hello", "Hi."))
    feed(*user("u2", "tell me a short story"))
    feed(*assistant("p2", "Sure, here it is."))
    feed(*assistant("a2", "Once upon a time."))
    lines = ["user: hello", "assistant: Hi.", "user: tell me a short story"]
    assert feed.done(700) == [started("sum_001", feed, 700), request("sum_001", lines, ("u1", "a1", "u2"))]
