"""Summariser actor: summarises old turns into a system message at the root and deletes them (see core.py).

Consumes: the conversation (``pipeline.projections.conversation.PROJECTION_EVENTS``: items, transcripts, assistant text,
tool calls, ``ResponseDone``, client commands, the re-seed), ``ConnectionLost`` (a summary in progress is
abandoned), ``ServerError`` (errors naming its commands), ``TimerFired`` and its own edges
``SummaryGenerated``/``SummaryFailed``.
Emits: ``SummaryRequested``, ``ClientCommand`` (``conversation.item.create`` of ``sum_NNN`` at the root,
``conversation.item.delete``; ids ``summariser_0001``...), ``SummaryApplied``/``SummaryAbandoned``,
``TimerRequested``/``TimerCancelled``; and, as the edge, ``SummaryGenerated`` or ``SummaryFailed`` for every
``SummaryRequested``: the shell calls chat completions (the ``openai`` SDK, ``core.chat_request``: temperature
0 where the model takes one, ``max_completion_tokens``; no SDK retries, bounded by ``timeout_s``) and publishes the outcome before the core sees it, so replay never calls the LLM.
Error text is one line with the API key masked.

Buffer and drop policy: the generic inbox (256); nothing it consumes is droppable (it never sees audio).
It holds the text of the conversation only. At end of input it cancels a summary request still in flight
(the session is over: nothing could apply it), closes its HTTP client under a short shielded bound and
returns; on cancellation the same, at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import trio
from openai import AsyncOpenAI  # imported with the module: ~1 s that must not stall a running session

from actors.summariser.core import NAME, SummariserCore, chat_request
from events.base import Event
from events.connection import ConnectionLost
from events.envelope import Envelope
from events.protocol import ServerError
from events.runtime import TimerFired
from events.summary import SummaryFailed, SummaryGenerated, SummaryRequested
from pipeline.clock import hold
from pipeline.projections.conversation import PROJECTION_EVENTS
from pipeline.replay import Replayable
from pipeline.runtime import ActorContext, ActorSpec, one_line, run_core

__all__ = ["CONSUMES", "NAME", "REPLAYABLE", "summariser_actor"]

CONSUMES = frozenset({*PROJECTION_EVENTS, ConnectionLost, ServerError, TimerFired, SummaryGenerated, SummaryFailed})
REPLAYABLE = Replayable(name=NAME, consumes=CONSUMES, make_core=SummariserCore.from_config)
CLOSE_BOUND_S = 2.0
_SECRET = re.compile(r"sk-[A-Za-z0-9_\-*]{4,}")


def masked(text: str, api_key: str) -> str:
    """One line of error text with the key (and anything shaped like one) masked."""
    if api_key:
        text = text.replace(api_key, "***")
    return _SECRET.sub("sk-***", text)


def summariser_actor(
    *, base_url: str, api_key: str, timeout_s: float = 30.0, config: Mapping[str, Any] | None = None
) -> ActorSpec:
    """The summariser, built from the flat core config; ``base_url`` is the OpenAI REST base (``.../v1``)."""

    async def shell(ctx: ActorContext) -> None:
        core = SummariserCore.from_config(config or {})
        client = AsyncOpenAI(api_key=api_key or "none", base_url=base_url, max_retries=0, timeout=timeout_s)

        async def generate(request: SummaryRequested, cause: int) -> None:
            outcome: Event
            try:
                # simulated time stands still while the request is out (the in-process server answers it)
                with trio.fail_after(timeout_s), hold():
                    response = await client.chat.completions.create(**chat_request(request.model, request.messages))
                text = response.choices[0].message.content if response.choices else None
                usage = response.usage.model_dump(exclude_none=True) if response.usage is not None else {}
                outcome = SummaryGenerated(summary_id=request.summary_id, text=text or "", usage=usage)
            except trio.TooSlowError:
                outcome = SummaryFailed(summary_id=request.summary_id, error=f"no answer within {timeout_s:g} s")
            except Exception as exc:  # any failure of the call is an outcome the core handles, not a crash
                outcome = SummaryFailed(summary_id=request.summary_id, error=masked(one_line(exc), api_key))
            await ctx.publish(outcome, cause=cause)

        try:
            async with trio.open_nursery() as nursery:

                async def on_output(env: Envelope) -> None:
                    if isinstance(env.event, SummaryRequested):
                        nursery.start_soon(generate, env.event, env.seq)

                await run_core(ctx, core, on_output=on_output)
                nursery.cancel_scope.cancel()  # end of input: a request still in flight has nobody to apply it
        finally:
            with trio.move_on_after(CLOSE_BOUND_S, shield=True):
                await client.close()

    return ActorSpec(name=NAME, consumes=CONSUMES, shell=shell)
