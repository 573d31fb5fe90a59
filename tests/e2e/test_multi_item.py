"""The current realtime models end to end (issue 12, "per item, not per response"): a session with
``--model gpt-realtime-2.1`` on the embedded server, whose responses carry a spoken preamble before tool calls,
two function calls for a two-part request, and a preamble message before a long answer.

What a user would notice: the preamble is spoken and printed before the tool calls; both calls run at once and
the answer is asked for exactly once, after the response that called them is done; a barge-in cuts the item
actually being heard, at what was heard of that item, and an item never heard is not cut; the journal replays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import pytest

from actors.console.actor import CONSUMES as CONSOLE_CONSUMES
from actors.console.order import ConsoleLines
from actors.tracer.backends import trace_path
from events.commands import ClientCommand
from events.playback import PlaybackFinished, PlaybackInterrupted, PlaybackProgress
from events.protocol import (
    AssistantAudioDelta,
    ItemTruncated,
    OutputItemAdded,
    ResponseDone,
)
from events.tools import ToolResult, ToolRunRequested
from pipeline.projections.conversation import Conversation
from tests.e2e.harness import LiveRun, live_run
from tests.e2e.multi_item_tools import DELAY_S

pytestmark = pytest.mark.slow
E = TypeVar("E")

MODEL = "gpt-realtime-2.1"
TOOLS = ("tests.e2e.multi_item_tools:get_weather", "tests.e2e.multi_item_tools:get_current_time")


def assert_replays_clean(run: LiveRun) -> None:
    reports = run.replay()
    assert {r.actor for r in reports} >= {"conductor", "tools", "playback", "transcripts"}
    for report in reports:
        assert report.divergences == 0, report.first.describe() if report.first else report


def console_lines(run: LiveRun) -> list[str]:
    """What the console printed (it ran quiet): its own fold of the journal, in its own order."""
    conversation, order, lines = Conversation(), ConsoleLines(), []
    for env in run.envelopes:
        if type(env.event) in CONSOLE_CONSUMES:
            conversation.apply(env)
            lines += order.feed(env, conversation)
    return lines + order.flush(conversation)


def items_of(run: LiveRun) -> dict[str, list[tuple[str, str]]]:
    """response id -> its output items (id, type), in output order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for ev in run.events(OutputItemAdded):
        found.setdefault(ev.response_id, []).append((ev.item_id, ev.item_type))
    return found


def stamped(run: LiveRun, cls: type[E]) -> list[tuple[int, int, E]]:
    """(seq, t_ns, event) of every ``cls`` event, in journal order."""
    return [(e.seq, e.t_ns, e.event) for e in run.envelopes if isinstance(e.event, cls)]  # type: ignore[misc]


def commands(run: LiveRun, kind: str) -> list[tuple[int, ClientCommand]]:
    return [(seq, ev) for seq, _, ev in stamped(run, ClientCommand) if ev.type == kind]


async def test_preamble_and_tool_calls_in_one_response_then_one_answer(tmp_path: Path) -> None:
    run = await live_run(
        tmp_path,
        lines=("what is the weather like in Paris", "what is the weather in Paris and the time in Tokyo"),
        model=MODEL,
        tool_specs=TOOLS,
    )
    assert run.result.failure is None and run.result.outcome.ending_reason == "end of input"
    responses = items_of(run)
    calling = [r for r, items in responses.items() if any(kind == "function_call" for _, kind in items)]
    assert len(calling) == 2
    one_call, two_calls = (responses[r] for r in calling)
    # the spoken preamble first, then the call(s), in one response
    assert [kind for _, kind in one_call] == ["message", "function_call"]
    assert [kind for _, kind in two_calls] == ["message", "function_call", "function_call"]
    preambles = {item for item, _ in (one_call[0], two_calls[0])}
    spoken = {e.item_id for e in run.events(AssistantAudioDelta)}
    assert preambles <= spoken
    played = {e.item_id: e for e in run.events(PlaybackFinished)}
    assert all(played[p].played_ms > 0 and not played[p].interrupted for p in preambles)

    # the two calls of one response ran at once: both started before either finished, and together they took
    # about one tool's time, not two
    second = calling[1]
    runs = [(seq, t, ev) for seq, t, ev in stamped(run, ToolRunRequested) if ev.response_id == second]
    call_ids = {ev.call_id for _, _, ev in runs}
    results = [(seq, t) for seq, t, ev in stamped(run, ToolResult) if ev.call_id in call_ids]
    assert len(runs) == len(results) == 2
    first_run = min(seq for seq, _, _ in runs)
    assert max(seq for seq, _, _ in runs) < min(seq for seq, _ in results)
    assert max(t for _, t in results) - min(t for _, t, _ in runs) < 2 * DELAY_S * 1e9
    # exactly one response.create for the batch, after that response's response.done and both outputs
    done_seq = next(seq for seq, _, ev in stamped(run, ResponseDone) if ev.response_id == second)
    creates = [seq for seq, _ in commands(run, "response.create") if seq > first_run]
    outputs = [seq for seq, _ in commands(run, "conversation.item.create") if seq > first_run]
    assert len(creates) == 1 and creates[0] > done_seq and creates[0] > max(outputs)
    answer_response = next(r for r in responses if r not in calling and list(responses).index(r) > list(responses).index(second))
    assert [kind for _, kind in responses[answer_response]] == ["message"]

    # the console: the user's words, the preamble, each call, then the answer, in that order
    lines = console_lines(run)
    kinds = [line[:11] for line in lines if line[:11] in ("[user     ]", "[assistant]", "[tool call]")]
    first_turn = ["[user     ]", "[assistant]", "[tool call]", "[assistant]"]
    assert kinds == [*first_turn, "[user     ]", "[assistant]", "[tool call]", "[tool call]", "[assistant]"]
    assert "Let me check that." in next(line for line in lines if two_calls[0][0] in line)

    # the trace: one generation per response, the preamble's text and both calls on the same one
    records = [json.loads(line) for line in trace_path(tmp_path / "session.rtpj").read_text().splitlines()]
    generation = next(r["data"] for r in records if r["op"] == "generation.result" and r["data"]["result"]["id"] == second)
    message = generation["result"]["choices"][0]["message"]
    assert message["content"] == "Let me check that." and len(message["tool_calls"]) == 2
    assert [i["type"] for i in generation["output_items"]] == ["message", "function_call", "function_call"]

    # the projection: every item of every response, in conversation order
    conversation = Conversation.fold(run.envelopes)
    kinds_in_order = [(t.role, t.kind) for t in conversation.turns]
    assert kinds_in_order.count(("assistant", "function_call")) == 3
    assert all(t.status == "resolved" for t in conversation.turns if t.role == "assistant")
    assert_replays_clean(run)


def truncates(run: LiveRun) -> list[tuple[str, int]]:
    return [(str(ev.body["item_id"]), int(ev.body["audio_end_ms"])) for _, ev in commands(run, "conversation.item.truncate")]


def last_played(run: LiveRun, item_id: str) -> int:
    return [ev.played_ms for _, _, ev in stamped(run, PlaybackProgress) if ev.item_id == item_id][-1]


async def test_barge_in_during_the_preamble_and_during_the_answer_truncates_the_item_heard(tmp_path: Path) -> None:
    run = await live_run(
        tmp_path,
        lines=("tell me a short story", "[barge 500] okay stop", "tell me a short story", "[barge 2000] okay stop"),
        model=MODEL,
    )
    assert run.result.failure is None and run.result.outcome.ending_reason == "end of input"
    stories = [items for items in items_of(run).values() if len(items) == 2]
    assert len(stories) == 2, items_of(run)
    (pre_1, _), (story_1, _) = stories[0]
    (pre_2, _), (story_2, _) = stories[1]
    finished = {e.item_id: e for e in run.events(PlaybackFinished)}

    # 1. over the preamble: the preamble is cut where it was heard; the story, received but never started, is
    # stopped and not cut
    # 2. over the story: the story is cut at what was played of the story (not of the response); the preamble,
    # played in full, is left alone
    assert truncates(run) == [(pre_1, last_played(run, pre_1)), (story_2, last_played(run, story_2))]
    assert 500 <= last_played(run, pre_1) < 1000
    assert finished[pre_1].interrupted and finished[pre_1].played_ms == last_played(run, pre_1)
    assert (finished[story_1].played_ms, finished[story_1].interrupted) == (0, True)
    assert [e.item_id for e in run.events(PlaybackInterrupted)] == [pre_1, story_1, story_2]
    assert not finished[pre_2].interrupted and finished[pre_2].played_ms > 1000
    assert 2000 <= last_played(run, story_2) < 2100  # the barge line fires at 2000 ms of the story itself
    assert {(e.item_id, e.audio_end_ms) for e in run.events(ItemTruncated)} == set(truncates(run))

    conversation = Conversation.fold(run.envelopes)
    status = {item: conversation.turn(item).status for item in (pre_1, story_1, pre_2, story_2)}  # type: ignore[union-attr]
    assert status == {pre_1: "interrupted", story_1: "interrupted", pre_2: "resolved", story_2: "interrupted"}
    lines = console_lines(run)
    assert [line.split("  (")[-1] for line in lines if line.startswith("[assistant]")][:2] == [f"{pre_1})", f"{story_1})"]

    attachments = [json.loads(line) for line in trace_path(tmp_path / "session.rtpj").read_text().splitlines()]
    cut = {r["data"]["item_id"]: r["data"]["played_ms"] for r in attachments if r["op"] == "attachment" and r["data"]["role"] == "assistant"}
    assert story_1 not in cut  # never heard: no audio on the trace
    assert cut[pre_1] == last_played(run, pre_1) and cut[story_2] == last_played(run, story_2)
    assert_replays_clean(run)

