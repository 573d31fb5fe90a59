"""ConversationGuard by value: events that contradict what the connection said before become one
StateViolation each and change nothing; everything consistent passes untouched (out-of-band responses too)."""

from __future__ import annotations

from actors.router.guard import MAX_FINISHED, ConversationGuard
from events.base import Event
from events.protocol import (
    AssistantAudioDelta,
    AssistantAudioDone,
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    InputTranscriptCompleted,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemTruncated,
    OutputItemAdded,
    ResponseCreated,
    ResponseDone,
    StateViolation,
)


def passes(guard: ConversationGuard, *events: Event) -> None:
    for ev in events:
        assert guard.check(ev) is ev


def one_response(guard: ConversationGuard, rid: str, item: str) -> None:
    passes(
        guard,
        ResponseCreated(response_id=rid),
        OutputItemAdded(response_id=rid, item_id=item, item_type="message", role="assistant"),
        ItemAdded(item_id=item, item_type="message", role="assistant"),
        AssistantTextDelta(response_id=rid, item_id=item, modality="audio", delta="Hel"),
        AssistantAudioDelta(response_id=rid, item_id=item, pcm=b"\x00\x00"),
        AssistantAudioDone(response_id=rid, item_id=item),
        AssistantTextDone(response_id=rid, item_id=item, modality="audio", text="Hello"),
        ItemDone(item_id=item, item_type="message", role="assistant"),
        ResponseDone(response_id=rid, status="completed", output_item_ids=(item,), output_types=("message",)),
    )


def test_a_consistent_conversation_passes_untouched() -> None:
    guard = ConversationGuard()
    passes(guard, ItemAdded(item_id="u1", item_type="message", role="user"), ItemDone(item_id="u1", item_type="message"))
    one_response(guard, "resp_1", "a1")
    passes(
        guard,
        ResponseCreated(response_id="resp_2"),
        OutputItemAdded(response_id="resp_2", item_id="f1", item_type="function_call"),
        FunctionCallRequested(response_id="resp_2", item_id="f1", call_id="call_1", name="get_weather", arguments="{}"),
        ResponseDone(response_id="resp_2", status="completed"),
        ItemTruncated(item_id="a1", audio_end_ms=500),
        ItemDeleted(item_id="u1"),
        InputTranscriptCompleted(item_id="never_seen", transcript="late transcripts are matched by id, not checked"),
    )


def test_a_done_for_a_response_never_created_is_a_violation_and_the_real_one_goes_on() -> None:
    guard = ConversationGuard()
    passes(guard, ResponseCreated(response_id="resp_real"), AssistantAudioDelta(response_id="resp_real", item_id="a1", pcm=b"\x00\x00"))
    assert guard.check(ResponseDone(response_id="resp_stray", status="completed", usage={"total_tokens": 900})) == StateViolation(
        server_type="response.done",
        reason="response.done for response resp_stray, which this connection never saw created",
        response_id="resp_stray",
    )
    # the real answer is untouched: its audio and its own done still pass
    passes(
        guard,
        AssistantAudioDelta(response_id="resp_real", item_id="a1", pcm=b"\x00\x00"),
        ResponseDone(response_id="resp_real", status="completed"),
    )


def test_a_second_done_and_anything_after_the_done_are_violations() -> None:
    guard = ConversationGuard()
    one_response(guard, "resp_1", "a1")
    again = guard.check(ResponseDone(response_id="resp_1", status="completed"))
    assert again == StateViolation(
        server_type="response.done", reason="response.done for response resp_1, which is already done", response_id="resp_1"
    )
    late = guard.check(AssistantAudioDelta(response_id="resp_1", item_id="a1", pcm=b"\x00\x00"))
    assert late == StateViolation(
        server_type="response.output_audio.delta",
        reason="response.output_audio.delta of response resp_1, which is already done",
        response_id="resp_1",
        item_id="a1",
    )


def test_items_and_deltas_of_an_unknown_response_are_violations() -> None:
    guard = ConversationGuard()
    cases: list[tuple[Event, str]] = [
        (OutputItemAdded(response_id="r_x", item_id="i_x", item_type="message"), "response.output_item.added"),
        (AssistantAudioDelta(response_id="r_x", item_id="i_x", pcm=b""), "response.output_audio.delta"),
        (AssistantAudioDone(response_id="r_x", item_id="i_x"), "response.output_audio.done"),
        (AssistantTextDelta(response_id="r_x", item_id="i_x", modality="audio", delta="a"), "response.output_audio_transcript.delta"),
        (AssistantTextDone(response_id="r_x", item_id="i_x", modality="text", text="a"), "response.output_text.done"),
        (FunctionCallRequested(response_id="r_x", item_id="i_x", call_id="c", name="n", arguments="{}"), "response.function_call_arguments.done"),
    ]
    for ev, server_type in cases:
        out = guard.check(ev)
        assert isinstance(out, StateViolation)
        assert (out.server_type, out.response_id, out.item_id) == (server_type, "r_x", "i_x")
        assert "r_x, which this connection never saw created" in out.reason
    # an output item refused is not remembered: its item.done is a violation too
    assert isinstance(guard.check(ItemDone(item_id="i_x", item_type="message")), StateViolation)


def test_done_delete_and_truncate_of_an_unknown_item_are_violations_and_a_delete_happens_once() -> None:
    guard = ConversationGuard()
    for ev, server_type in [
        (ItemDone(item_id="ghost", item_type="message"), "conversation.item.done"),
        (ItemDeleted(item_id="ghost"), "conversation.item.deleted"),
        (ItemTruncated(item_id="ghost", audio_end_ms=10), "conversation.item.truncated"),
    ]:
        assert guard.check(ev) == StateViolation(
            server_type=server_type, reason=f"{server_type} of item ghost, which this connection never showed", item_id="ghost"
        )
    passes(guard, ItemAdded(item_id="u1", item_type="message", role="user"), ItemDeleted(item_id="u1"))
    assert isinstance(guard.check(ItemDeleted(item_id="u1")), StateViolation)  # deleted already


def test_out_of_band_responses_are_known_by_their_created() -> None:
    """``conversation: "none"``: no conversation.item.added for its items, but output_item.added announces them."""
    guard = ConversationGuard()
    passes(
        guard,
        ResponseCreated(response_id="resp_oob"),
        OutputItemAdded(response_id="resp_oob", item_id="oob_item", item_type="message", role="assistant"),
        AssistantTextDelta(response_id="resp_oob", item_id="oob_item", modality="text", delta="positive"),
        AssistantTextDone(response_id="resp_oob", item_id="oob_item", modality="text", text="positive"),
        ResponseDone(response_id="resp_oob", status="completed", output_item_ids=("oob_item",), output_types=("message",)),
    )


def test_an_in_progress_done_keeps_the_response_open() -> None:
    guard = ConversationGuard()
    passes(
        guard,
        ResponseCreated(response_id="r"),
        ResponseDone(response_id="r", status="in_progress"),
        AssistantAudioDelta(response_id="r", item_id="a", pcm=b""),
        ResponseDone(response_id="r", status="cancelled"),
    )


def test_memory_is_bounded() -> None:
    guard = ConversationGuard()
    for i in range(MAX_FINISHED + 10):
        passes(guard, ResponseCreated(response_id=f"r{i}"), ResponseDone(response_id=f"r{i}", status="completed"))
    out = guard.check(ResponseDone(response_id="r0", status="completed"))
    assert isinstance(out, StateViolation) and "never saw created" in out.reason  # forgotten, still refused
    out = guard.check(ResponseDone(response_id=f"r{MAX_FINISHED + 9}", status="completed"))
    assert isinstance(out, StateViolation) and "already done" in out.reason
