from __future__ import annotations

from typing import Any

from events import commands
from events.base import Event
from events.envelope import Envelope
from events.protocol import (
    AssistantAudioDelta,
    AssistantTextDelta,
    AssistantTextDone,
    FunctionCallRequested,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemTruncated,
    ResponseDone,
)
from events.transcripts import TranscriptLate, TranscriptResolved, TranscriptUnavailable
from pipeline.projections.conversation import (
    PROJECTION_EVENTS,
    Conversation,
    ResponseUsage,
    Turn,
    history_line,
)


def envs(*events: Event) -> list[Envelope]:
    return [Envelope(seq=i, t_ns=i * 1000, source="x", cause=None, event=e) for i, e in enumerate(events, 1)]


def fold(*events: Event) -> Conversation:
    return Conversation.fold(envs(*events))


def user(item_id: str, previous: str | None = None, text: str | None = None) -> ItemAdded:
    return ItemAdded(item_id=item_id, previous_item_id=previous, item_type="message", role="user", status="completed", text=text)


def assistant(item_id: str, previous: str | None) -> ItemAdded:
    return ItemAdded(item_id=item_id, previous_item_id=previous, item_type="message", role="assistant", status="in_progress")


def delta(item_id: str, text: str, response_id: str = "resp_1") -> AssistantTextDelta:
    return AssistantTextDelta(response_id=response_id, item_id=item_id, modality="audio", delta=text)


def done(response_id: str, items: tuple[str, ...], total: int | None, status: str = "completed", types: tuple[str, ...] = ()) -> ResponseDone:
    usage = {"total_tokens": total, "input_tokens": total - 100, "output_tokens": 100} if total is not None else {}
    # (through a dict: mypy cannot type attrs' ``converter=tuple`` fields of ResponseDone)
    outputs: dict[str, Any] = {"output_item_ids": items, "output_types": types or ("message",) * len(items)}
    return ResponseDone(response_id=response_id, status=status, usage=usage, **outputs)


def one_turn() -> list[Event]:
    return [
        user("item_u1"),
        assistant("item_a1", "item_u1"),
        delta("item_a1", "It is "),
        AssistantAudioDelta(response_id="resp_1", item_id="item_a1", pcm=b"\0\0" * 10),
        delta("item_a1", "sunny."),
        AssistantTextDone(response_id="resp_1", item_id="item_a1", modality="audio", text="It is sunny."),
        done("resp_1", ("item_a1",), 320),
        TranscriptResolved(item_id="item_u1", text="What's the weather?", via="event"),
    ]


def test_a_turn_folds_into_user_and_assistant_text_and_the_token_window() -> None:
    conv = fold(*one_turn())
    assert conv.turns == [
        Turn(item_id="item_u1", role="user", text="What's the weather?", status="resolved", kind="message"),
        Turn(item_id="item_a1", role="assistant", text="It is sunny.", status="resolved", kind="message"),
    ]
    assert conv.token_window == 320
    assert conv.responses == 1
    assert conv.usage_history == [
        ResponseUsage(response_id="resp_1", status="completed", total_tokens=320, input_tokens=220, output_tokens=100)
    ]


def test_turns_show_pending_and_streaming_states_along_the_way() -> None:
    events = one_turn()
    conv = fold(*events[:3])
    assert conv.turns == [
        Turn(item_id="item_u1", role="user", text=None, status="pending", kind="message"),
        Turn(item_id="item_a1", role="assistant", text="It is ", status="streaming", kind="message"),
    ]
    assert conv.token_window is None


def test_render_history_is_the_seed_printout() -> None:
    conv = fold(*one_turn(), user("item_u2", "item_a1"))
    assert conv.render_history() == (
        "[user     ] What's the weather?  (item_u1)\n"
        "[assistant] It is sunny.  (item_a1)\n"
        "[user     ] (transcript pending)  (item_u2)\n"
        "token window: 320 tokens"
    )
    assert Conversation().render_history() == "token window: unknown (no response yet)"


def test_unavailable_transcript_is_shown_with_its_reason() -> None:
    conv = fold(user("item_u1"), TranscriptUnavailable(item_id="item_u1", reason="timed_out", detail="no answer"))
    assert conv.turn("item_u1") == Turn(
        item_id="item_u1", role="user", text=None, status="unavailable", kind="message", detail="timed_out: no answer"
    )
    assert conv.render_history().splitlines()[0] == "[user     ] (transcript unavailable: timed_out: no answer)  (item_u1)"
    assert conv.totals == {"user": 1, "unavailable": 1}


def test_late_transcript_attaches_to_its_own_item() -> None:
    conv = fold(
        user("item_u1"),
        assistant("item_a1", "item_u1"),
        AssistantTextDone(response_id="resp_1", item_id="item_a1", modality="audio", text="Hello."),
        done("resp_1", ("item_a1",), 100),
        user("item_u2", "item_a1"),
        TranscriptResolved(item_id="item_u1", text="hi", via="event"),
    )
    assert [(t.item_id, t.text, t.status) for t in conv.turns] == [
        ("item_u1", "hi", "resolved"),
        ("item_a1", "Hello.", "resolved"),
        ("item_u2", None, "pending"),
    ]


def test_facts_before_their_item_are_applied_when_it_arrives() -> None:
    conv = fold(
        delta("item_a1", "Early "),
        TranscriptResolved(item_id="item_u1", text="first", via="event"),
        user("item_u1"),
        assistant("item_a1", "item_u1"),
        delta("item_a1", "words"),
    )
    assert [(t.item_id, t.text, t.status) for t in conv.turns] == [
        ("item_u1", "first", "resolved"),
        ("item_a1", "Early words", "streaming"),
    ]


def test_items_follow_previous_item_id_and_root_summaries_come_first() -> None:
    conv = fold(
        user("u1"),
        assistant("a1", "u1"),
        user("u2", "a1"),
        assistant("x", "u1"),  # inserted after u1, before a1
        ItemAdded(item_id="after_unknown", previous_item_id="gone", item_type="message", role="user"),
        # a summary at the root: the server reports previous_item_id None
        ItemAdded(item_id="sum_001", previous_item_id=None, item_type="message", role="system", text="Résumé."),
        ItemDeleted(item_id="u1"),
        ItemDeleted(item_id="a1"),
        ItemDeleted(item_id="never_existed"),
    )
    assert conv.item_ids == ("sum_001", "x", "u2", "after_unknown")
    # deleted items still count in the session totals
    assert conv.totals == {"user": 3, "assistant": 2, "system": 1}
    assert conv.turn("sum_001") == Turn(item_id="sum_001", role="system", text="Résumé.", status="resolved", kind="message")
    assert conv.turn("u1") is None


def test_our_root_create_decides_placement_for_a_null_previous_id() -> None:
    root_user = {"id": "note_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "ctx"}]}
    appended_system = commands.system_message("sys_2", "appended")
    conv = fold(
        user("u1", text="typed"),
        commands.item_create("c1", root_user, previous_item_id="root"),
        commands.item_create("c2", appended_system),
        ItemAdded(item_id="note_1", previous_item_id=None, item_type="message", role="user", text="ctx"),
        ItemAdded(item_id="sys_2", previous_item_id=None, item_type="message", role="system", text="appended"),
        user("u9"),  # no previous id, not created at root: appended
    )
    assert conv.item_ids == ("note_1", "u1", "sys_2", "u9")
    assert conv.turn("u1") == Turn(item_id="u1", role="user", text="typed", status="resolved", kind="message")


def test_tool_call_and_output_are_turns() -> None:
    conv = fold(
        user("u1"),
        ItemAdded(item_id="fc1", previous_item_id="u1", item_type="function_call", call_id="call_1", name="get_weather"),
        FunctionCallRequested(response_id="r1", item_id="fc1", call_id="call_1", name="get_weather", arguments='{"location":"Paris"}'),
        done("r1", ("fc1",), 200, types=("function_call",)),
        commands.function_call_output("tools_0001", "call_1", '{"temperature":"21°C"}'),
        ItemAdded(item_id="out1", previous_item_id="fc1", item_type="function_call_output", call_id="call_1"),
    )
    assert conv.turns[1:] == [
        Turn(
            item_id="fc1",
            role="assistant",
            text='get_weather({"location":"Paris"})',
            status="resolved",
            kind="function_call",
            name="get_weather",
            call_id="call_1",
        ),
        Turn(
            item_id="out1", role="tool", text='{"temperature":"21°C"}', status="resolved", kind="function_call_output", call_id="call_1"
        ),
    ]
    assert conv.totals == {"user": 1, "function_call": 1, "function_call_output": 1}


def test_truncation_keeps_the_text_and_marks_the_turn_interrupted() -> None:
    conv = fold(
        user("u1"),
        assistant("a1", "u1"),
        delta("a1", "Once upon a time there"),
        ItemTruncated(item_id="a1", audio_end_ms=1500),
        AssistantTextDone(response_id="resp_1", item_id="a1", modality="audio", text="Once upon a time there was"),
        done("resp_1", ("a1",), 500, status="cancelled"),
    )
    assert conv.turn("a1") == Turn(item_id="a1", role="assistant", text="Once upon a time there", status="interrupted", kind="message")
    assert conv.render_history().splitlines()[1] == "[assistant] Once upon a time there [interrupted]  (a1)"


def test_cancelled_response_interrupts_its_streaming_items() -> None:
    conv = fold(user("u1"), assistant("a1", "u1"), delta("a1", "Well"), done("resp_1", ("a1",), 90, status="cancelled"))
    assert conv.turn("a1") == Turn(item_id="a1", role="assistant", text="Well", status="interrupted", kind="message")


def test_item_done_incomplete_interrupts_and_completed_resolves() -> None:
    conv = fold(
        assistant("a1", None),
        ItemDone(item_id="a1", item_type="message", role="assistant", status="incomplete", text="cut"),
        assistant("a2", "a1"),
        ItemDone(item_id="a2", item_type="message", role="assistant", status="completed", text="whole answer"),
        user("u1", "a2"),
        ItemDone(item_id="u1", item_type="message", role="user", status="completed", text="not from here"),
    )
    assert [(t.text, t.status) for t in conv.turns] == [("cut", "interrupted"), ("whole answer", "resolved"), (None, "pending")]


def test_usage_history_keeps_every_response_and_window_tracks_the_last_total() -> None:
    conv = fold(done("r1", (), 1200), done("r2", (), None, status="failed"), done("r3", (), 800))
    assert conv.token_window == 800
    assert conv.peak_tokens == 1200
    assert Conversation().peak_tokens is None
    assert conv.responses == 3
    assert [(u.response_id, u.total_tokens) for u in conv.usage_history] == [("r1", 1200), ("r2", None), ("r3", 800)]


def reachable_bytes(root: object) -> int:
    """Total size of the bytes objects reachable from ``root`` (through containers and object attributes)."""
    seen: set[int] = set()
    stack: list[object] = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, bytes | bytearray):
            total += len(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif not callable(obj) and not isinstance(obj, type):
            if hasattr(obj, "__attrs_attrs__"):
                stack.extend(getattr(obj, a.name) for a in obj.__attrs_attrs__)
            if hasattr(obj, "__dict__"):
                stack.extend(vars(obj).values())
    return total


def test_audio_is_never_kept() -> None:
    pcm = b"\1\0" * 4800
    events: list[Event] = [*one_turn()]
    for n in range(50):
        events.append(AssistantAudioDelta(response_id="r9", item_id="a9", pcm=pcm))
        events.append(delta("a9", f"w{n} ", "r9"))  # text for an item not added yet is kept, its audio is not
    conv = fold(*events)
    assert reachable_bytes(conv) == 0
    assert reachable_bytes(events) == len(pcm) + 20  # the walker does find audio where there is some (pcm is shared)
    conv.apply(envs(assistant("a9", "item_a1"))[0])
    assert conv.turn("a9") is not None and conv.turn("a9").text == "".join(f"w{n} " for n in range(50))  # type: ignore[union-attr]


def test_an_empty_transcript_is_shown_and_counted_as_empty() -> None:
    conv = fold(user("u1"), TranscriptResolved(item_id="u1", text="", via="event"), user("u2", "u1"),
                TranscriptResolved(item_id="u2", text="  ", via="event"))  # fmt: skip
    assert conv.turn("u1") == Turn(item_id="u1", role="user", text="", status="resolved", kind="message")
    assert conv.render_history().splitlines()[:2] == [
        "[user     ] (empty transcript)  (u1)",
        "[user     ] (empty transcript)  (u2)",
    ]
    assert conv.totals == {"user": 2, "empty": 2}


def test_a_late_transcript_fills_in_its_unavailable_item_marked_late() -> None:
    assert TranscriptLate in PROJECTION_EVENTS  # the summariser, tracer and console all see it
    conv = fold(
        user("u1"),
        TranscriptUnavailable(item_id="u1", reason="timed_out", detail="no answer"),
        user("u2", "u1"),
        TranscriptUnavailable(item_id="u2", reason="session ended"),
    )
    assert conv.totals == {"user": 2, "unavailable": 2}
    for env in envs(TranscriptLate(item_id="u1", text="what is the weather", via="event")):
        conv.apply(env)
    assert conv.turn("u1") == Turn(
        item_id="u1", role="user", text="what is the weather", status="resolved", kind="message", late=True
    )
    assert conv.render_history().splitlines()[:2] == [
        "[user     ] what is the weather [late]  (u1)",
        "[user     ] (transcript unavailable: session ended)  (u2)",
    ]
    assert conv.totals == {"user": 2, "unavailable": 1, "late": 1}
    # at most once; an empty late transcript counts as empty too
    for env in envs(
        TranscriptLate(item_id="u1", text="again", via="retrieve"), TranscriptLate(item_id="u2", text="", via="event")
    ):
        conv.apply(env)
    assert conv.turn("u1").text == "what is the weather"  # type: ignore[union-attr]
    assert history_line(conv.turn("u2")) == "[user     ] (empty transcript) [late]  (u2)"  # type: ignore[arg-type]
    assert conv.totals == {"user": 2, "unavailable": 0, "late": 2, "empty": 1}


def test_a_late_transcript_for_a_summarised_item_is_ignored() -> None:
    conv = fold(
        user("u1"),
        TranscriptUnavailable(item_id="u1", reason="timed_out"),
        ItemDeleted(item_id="u1"),
        TranscriptLate(item_id="u1", text="too late to matter", via="event"),
        user("u1b"),
    )
    assert conv.item_ids == ("u1b",)
    assert conv.turn("u1b").text is None  # type: ignore[union-attr]
    assert conv._early == {}  # not kept around as a fact waiting for its item
    assert conv.totals == {"user": 2, "unavailable": 1}
