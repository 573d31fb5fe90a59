"""The summariser shell against a summary model that fails (HTTP 500) or never answers: the outcome is one
journaled ``SummaryFailed`` within the bound, the attempt is abandoned, and the session's end is not held up
by a request still in flight. Real loopback sockets, so no autojump clock; every test is bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from actors.summariser.actor import masked, summariser_actor
from actors.summariser.core import MAX_COMPLETION_TOKENS
from events.base import Event
from events.protocol import ItemAdded, ItemDone, ResponseDone
from events.runtime import SessionEnding
from events.summary import SummaryAbandoned, SummaryFailed, SummaryGenerated, SummaryRequested
from events.transcripts import TranscriptResolved
from pipeline.bus import Bus
from pipeline.clock import TrioClock
from pipeline.models import DEFAULT_SUMMARY_MODEL
from pipeline.runtime import ActorContext, ActorSpec, run_session

KEY = "-".join(["sk", "proj", "abcdefghijklmnop"])  # a fake, built so no line looks like a key


def conversation() -> list[Event]:
    events: list[Event] = []
    for n in (1, 2):
        events += [
            ItemAdded(item_id=f"u{n}", item_type="message", role="user", status="completed"),
            TranscriptResolved(item_id=f"u{n}", text=f"question {n}", via="event"),
            ItemAdded(item_id=f"a{n}", item_type="message", role="assistant", status="in_progress"),
            ItemDone(item_id=f"a{n}", item_type="message", role="assistant", status="completed", text=f"answer {n}."),
        ]
    return [*events, ResponseDone(response_id="r2", status="completed", usage={"total_tokens": 5000})]


@asynccontextmanager
async def http_peer(status: int | None) -> AsyncIterator[str]:
    """A loopback HTTP peer: answers every request with ``status`` (an OpenAI-shaped error), or never (None)."""
    async with trio.open_nursery() as nursery:
        [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")

        async def handler(stream: trio.SocketStream) -> None:
            async with stream:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += await stream.receive_some(65536)
                if status is None:
                    await trio.sleep_forever()
                body = b'{"error": {"message": "boom, your key is ' + KEY.encode() + b'", "type": "server_error"}}'
                head = f"HTTP/1.1 {status} Oops\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                await stream.send_all(head.encode() + body)

        nursery.start_soon(trio.serve_listeners, handler, [listener])
        port = listener.socket.getsockname()[1]
        yield f"http://127.0.0.1:{port}/v1"
        nursery.cancel_scope.cancel()


def driver(seen: list[Event], *, end_after: type[Event]) -> ActorSpec:
    async def shell(ctx: ActorContext) -> None:
        with ctx.inbox:
            for event in conversation():
                await ctx.publish(event, cause=None)
            async for env in ctx.inbox:
                seen.append(env.event)
                if isinstance(env.event, end_after):
                    break
            await ctx.publish(SessionEnding(reason="end of input"))

    return ActorSpec(name="driver", consumes={SummaryRequested, SummaryGenerated, SummaryFailed, SummaryAbandoned}, shell=shell)


async def run(url: str, end_after: type[Event], timeout_s: float, **config: object) -> list[Event]:
    seen: list[Event] = []
    specs = [
        driver(seen, end_after=end_after),
        summariser_actor(base_url=url, api_key=KEY, timeout_s=timeout_s, config={"summary_trigger": 100, **config}),
    ]
    outcome = await run_session(specs, bus=Bus(clock=TrioClock()), grace_s=1.0)
    assert outcome.ok, outcome
    return seen


async def test_a_500_from_the_summary_model_is_a_failure_with_the_key_masked() -> None:
    with trio.fail_after(10):
        async with http_peer(500) as url:
            seen = await run(url, SummaryAbandoned, timeout_s=5.0)
    requested, failed, abandoned = seen
    assert isinstance(requested, SummaryRequested) and requested.item_ids_to_replace == ("u1", "a1")
    assert isinstance(failed, SummaryFailed) and failed.summary_id == "sum_001"
    assert failed.error.startswith("InternalServerError: Error code: 500") and "boom" in failed.error
    assert KEY not in failed.error and "abcdefghijklmnop" not in failed.error
    assert abandoned == SummaryAbandoned(summary_id="sum_001", reason=f"the summary model failed: {failed.error}")


async def test_a_summary_model_that_never_answers_fails_within_the_bound() -> None:
    with trio.fail_after(10):
        async with http_peer(None) as url:
            start = trio.current_time()
            seen = await run(url, SummaryAbandoned, timeout_s=0.5)
            elapsed = trio.current_time() - start
    assert [type(e) for e in seen] == [SummaryRequested, SummaryFailed, SummaryAbandoned]
    assert seen[1] == SummaryFailed(summary_id="sum_001", error="no answer within 0.5 s")
    assert elapsed < 3.0


async def test_the_end_of_the_session_cancels_a_request_in_flight() -> None:
    with trio.fail_after(10):
        async with http_peer(None) as url:
            start = trio.current_time()
            seen = await run(url, SummaryRequested, timeout_s=30.0)
            elapsed = trio.current_time() - start
    assert [type(e) for e in seen] == [SummaryRequested]
    assert elapsed < 3.0  # not the 30 s bound, nor the 1 s grace: the shell returned at end of input


def test_masked_hides_keys() -> None:
    assert masked(f"bad key {KEY} and sk-other123456", KEY) == "bad key *** and sk-***"


@asynccontextmanager
async def chat_peer(bodies: list[dict[str, Any]]) -> AsyncIterator[str]:
    """A loopback chat-completions peer that keeps every request body and answers with a summary."""
    async with trio.open_nursery() as nursery:
        [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")

        async def handler(stream: trio.SocketStream) -> None:
            async with stream:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += await stream.receive_some(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                while len(body) < length:
                    body += await stream.receive_some(65536)
                bodies.append(json.loads(body))
                answer = json.dumps({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": bodies[-1]["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Résumé."}}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
                }).encode()  # fmt: skip
                reply = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\nConnection: close\r\n\r\n"
                await stream.send_all(reply.encode() + answer)

        nursery.start_soon(trio.serve_listeners, handler, [listener])
        yield f"http://127.0.0.1:{listener.socket.getsockname()[1]}/v1"
        nursery.cancel_scope.cancel()


async def test_the_request_suits_the_model_a_reasoning_default_and_the_seeds_gpt_4o_mini() -> None:
    """Reasoning chat models refuse a temperature other than the default and ``max_tokens``: the default
    summary model gets neither, gpt-4o-mini keeps temperature 0; both are bounded by max_completion_tokens."""
    bodies: list[dict[str, Any]] = []
    with trio.fail_after(20):
        async with chat_peer(bodies) as url:
            default = await run(url, SummaryGenerated, timeout_s=5.0)
            seed = await run(url, SummaryGenerated, timeout_s=5.0, summary_model="gpt-4o-mini")
    assert [type(e) for e in default] == [type(e) for e in seed] == [SummaryRequested, SummaryGenerated]
    assert isinstance(default[1], SummaryGenerated) and default[1].text == "Résumé."
    first, second = bodies
    assert first["model"] == DEFAULT_SUMMARY_MODEL and second["model"] == "gpt-4o-mini"
    for body in bodies:
        assert body["max_completion_tokens"] == MAX_COMPLETION_TOKENS and "max_tokens" not in body
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "temperature" not in first
    assert second["temperature"] == 0
