"""How a reasoning realtime model (gpt-realtime-2, -2.1, -2.1-mini) shapes a response: a plan of output items.

`plan(turns, tools, tool_choice, reasoning=..., parallel=...)` returns the items of one response, in order. For
any other model it is exactly the brain's one decision (`decide`), so the seed models keep their behaviour.
For a reasoning model:

- a tool call is announced first: a short spoken preamble message ("Let me check that."), then the call(s),
  in the same response; the answer comes in the next response, after the client sent the output(s) and
  `response.create`, as with every model;
- a request for two things at once ("what is the weather in Paris and the time in Tokyo") is split at "and":
  when every part fits a tool on its own (the brain's scoring and its argument reading, part by part) and the
  parts ask for different calls, the response carries one `function_call` per part. With `parallel_tool_calls`
  false only the first is called; the next response (after its output and `response.create`) calls the next
  one, and the one after that speaks every result. As with every model, the outputs that follow the latest
  user message answer it, whoever created the items (a client re-seeding a conversation whose calls already
  ran) and whatever sits between or after them (the preamble, an answer cut short): no call is made again;
- a long answer (a story) is announced: a short preamble message, then the answer as a second message item of
  the same response (livekit/agents#5684 and pipecat's realtime service saw gpt-realtime-2 send two message
  items for one turn on long replies).

Reasoning tokens (`reasoning_tokens`): the usage of a reasoning model's response reports them in
`output_token_details.reasoning_tokens`, counted inside `output_token_details.text_tokens` and
`output_tokens` (evidence: litellm PR #39850 "bill realtime reasoning tokens nested in text_tokens once";
pipecat and a realtime cost module that bill `output_tokens` and show reasoning_tokens only as a split). How
many tokens an effort costs is not published: `REASONING_TOKENS` is an inference (none for `minimal`, then
growing with the effort, per tool call planned), so usage visibly grows with the effort.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from pipeline.server.arguments import fill_arguments
from pipeline.server.brain import (
    CallTool,
    Decision,
    Say,
    Turn,
    answered,
    decide,
    functions_of,
    pick_tool,
    since_last_user,
    speak_result,
)

TOOL_PREAMBLE: Final = "Let me check that."
LONG_PREAMBLE: Final = "Sure, here it is."
LONG_ANSWER_WORDS: Final = 60  # an answer longer than this is announced by a reasoning model
DEFAULT_EFFORT: Final = "low"  # the provider default for the gpt-realtime-2 line [DOC: community model lists]
# Reasoning tokens per planned step by effort [INF: the real counts are not published].
REASONING_TOKENS: Final = {"minimal": 0, "low": 16, "medium": 48, "high": 128, "xhigh": 256}

_SPLIT = re.compile(r",?\s+\band\b\s+", re.IGNORECASE)


def plan(
    turns: Sequence[Turn], tools: Sequence[dict[str, Any]], tool_choice: Any, *, reasoning: bool, parallel: bool = True
) -> tuple[Decision, ...]:
    """The output items of one response, in order (see the module docstring)."""
    if not reasoning:
        return (decide(turns, tools, tool_choice),)
    functions = functions_of(tools)
    request = _last_user(turns)
    calls = _calls(request, functions) if functions and tool_choice == "auto" and request is not None else ()
    has_outputs = answered(turns)
    if len(calls) > 1:
        made = _calls_made(turns)
        remaining = [c for c in calls if (c.name, _key(c.arguments)) not in made]
        if has_outputs and remaining and not parallel:
            return (remaining[0],)  # one call per response: the next one, after the first output
        if not has_outputs and remaining == list(calls):
            return (Say(TOOL_PREAMBLE), *(calls if parallel else calls[:1]))
    if has_outputs:
        return (Say(_speak_outputs(turns)),)
    decision = decide(turns, tools, tool_choice)
    if isinstance(decision, CallTool):
        return (Say(TOOL_PREAMBLE), decision)
    if len(decision.text.split()) > LONG_ANSWER_WORDS:
        return (Say(LONG_PREAMBLE), decision)
    return (decision,)


def reasoning_tokens(effort: str | None, steps: Sequence[Decision]) -> int:
    """The reasoning tokens a response of `steps` reports at `effort` (None: the default effort) [INF]."""
    per_step = REASONING_TOKENS.get(effort or DEFAULT_EFFORT, REASONING_TOKENS[DEFAULT_EFFORT])
    return per_step * max(1, sum(1 for s in steps if isinstance(s, CallTool)))


def _last_user(turns: Sequence[Turn]) -> Turn | None:
    return next((t for t in reversed(turns) if t.kind == "message" and t.role == "user" and t.text.strip()), None)


def _key(arguments: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in arguments.items()))


def _calls(request: Turn, functions: Sequence[dict[str, Any]]) -> tuple[CallTool, ...]:
    """One call per part of the request when each part fits a tool on its own and the calls differ; else ()."""
    parts = [p.strip(" ,.?!") for p in _SPLIT.split(request.text.strip()) if p.strip(" ,.?!")]
    if len(parts) < 2:
        return ()
    calls: list[CallTool] = []
    for part in parts:
        best = pick_tool(functions, part)
        if best is None or best[0] < 2:
            return ()
        filled = fill_arguments(best[1], part)
        if filled.missing:
            return ()
        call = CallTool(name=str(best[1]["name"]), arguments=filled.arguments)
        if call in calls:
            return ()
        calls.append(call)
    return tuple(calls)


def _calls_made(turns: Sequence[Turn]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(name, arguments) of the function calls since the last user message."""
    made = set()
    for turn in since_last_user(turns):
        if turn.kind == "function_call":
            try:
                parsed = json.loads(turn.arguments)
            except ValueError:
                parsed = {}
            made.add((turn.name, _key(parsed if isinstance(parsed, dict) else {})))
    return made


def _speak_outputs(turns: Sequence[Turn]) -> str:
    """The results of every call since the last user message, one sentence each, in the order of the calls."""
    since = since_last_user(turns)
    calls = [t for t in since if t.kind == "function_call"]
    order = {call.call_id: index for index, call in enumerate(calls)}
    names = {call.call_id: call.name for call in calls}
    outputs = sorted((t for t in since if t.kind == "function_call_output"), key=lambda o: order.get(o.call_id, len(order)))
    return " ".join(speak_result(names.get(o.call_id, ""), o.text) for o in outputs)
