"""A reasoning model's sessions (gpt-realtime-2.1) over real loopback WebSockets: a spoken preamble before its tool
calls, several calls in one response (or one per response without parallel_tool_calls), a preamble item before a
long answer with barge-in and truncation on either item, reasoning.effort accepted (the seed model refuses it),
and reasoning tokens in usage. Every event is validated against the SDK's RealtimeServerEvent (the checker)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from pipeline.server.brain import SHORT_STORY
from pipeline.server.reasoning import LONG_PREAMBLE, REASONING_TOKENS, TOOL_PREAMBLE
from tests.server.conftest import StartServer
from tests.server.support import Client, FakeSpeech, silence, tone, types_of
from tests.server.test_realtime_ws import WEATHER_TOOL, user_text

TIME_TOOL = {
    "type": "function", "name": "get_current_time", "description": "Get the current time in a time zone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "description": "IANA time zone"}}, "required": ["timezone"]},
}  # fmt: skip
WEATHER = json.dumps({"location": "Paris", "temperature": "18°C", "condition": "sunny"})
TIME = json.dumps({"time": "21:04", "timezone": "Asia/Tokyo"})
BOTH = "what is the weather in Paris and the time in Tokyo"


@asynccontextmanager
async def session(server: Any, model: str = "gpt-realtime-2.1", **update: Any) -> AsyncIterator[Client]:
    async with open_websocket_url(f"{server.realtime_url}?model={model}") as ws:
        client = Client(ws)
        await client.recv()
        if update:
            await client.send({"type": "session.update", "session": {"type": "realtime", **update}})
            await client.until("session.updated")
        yield client


async def respond(client: Client, text: str | None = None, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if text is not None:
        await client.send({"type": "conversation.item.create", "item": user_text(text)})
    await client.send({"type": "response.create", **({"response": params} if params else {})})
    done, seen = await client.until("response.done")
    await client.until("rate_limits.updated")
    return done["response"], seen[types_of(seen).index("response.created") :]


async def send_output(client: Client, call: dict[str, Any], output: str) -> None:
    await client.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": output}})
    await client.until("conversation.item.done")


def answer_of(response: dict[str, Any]) -> str:
    content = response["output"][-1]["content"][0]
    return str(content.get("text") or content.get("transcript"))


async def test_preamble_then_tool_call_in_one_response_then_the_answer(start_server: StartServer) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server, tools=[WEATHER_TOOL]) as client:
            response, seen = await respond(client, "what is the weather in Paris")
            preamble, call = response["output"]
            assert preamble["type"] == "message" and preamble["status"] == "completed"
            assert preamble["content"] == [{"type": "output_audio", "transcript": TOOL_PREAMBLE}]
            assert call["type"] == "function_call" and json.loads(call["arguments"]) == {"location": "Paris"}
            kinds = [k for k in types_of(seen) if not k.endswith(".delta")]
            # at-end (the default): the preamble's .done events come last, just before response.done
            assert kinds == [
                "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
                "response.output_item.added", "conversation.item.added", "response.function_call_arguments.done",
                "response.output_item.done", "conversation.item.done",
                "response.output_audio.done", "response.output_audio_transcript.done", "response.content_part.done",
                "response.output_item.done", "conversation.item.done", "response.done",
            ]  # fmt: skip
            outputs = [e["output_index"] for e in seen if e["type"] == "response.output_item.added"]
            assert outputs == [0, 1]
            added = [e for e in seen if e["type"] == "conversation.item.added"]
            assert added[1]["previous_item_id"] == preamble["id"]  # the call follows its preamble in the conversation
            assert await client.no_event_within(0.2), "no answer before the output and response.create"
            await send_output(client, call, WEATHER)
            answer, _ = await respond(client)
            assert [i["type"] for i in answer["output"]] == ["message"]
            assert answer_of(answer) == "The weather in Paris is sunny at 18°C."


async def test_sequential_order_closes_the_preamble_before_the_call(start_server: StartServer) -> None:
    server = await start_server(item_done_order="sequential")
    with trio.fail_after(10):
        async with session(server, tools=[WEATHER_TOOL], output_modalities=["text"]) as client:
            _response, seen = await respond(client, "what is the weather in Paris")
            kinds = [k for k in types_of(seen) if not k.endswith(".delta")]
            assert kinds == [
                "response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added",
                "response.output_text.done", "response.content_part.done", "response.output_item.done", "conversation.item.done",
                "response.output_item.added", "conversation.item.added", "response.function_call_arguments.done",
                "response.output_item.done", "conversation.item.done", "response.done",
            ]  # fmt: skip


async def test_two_calls_in_one_response_then_one_answer(start_server: StartServer) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server, tools=[WEATHER_TOOL, TIME_TOOL], output_modalities=["text"]) as client:
            response, _ = await respond(client, BOTH)
            preamble, weather, time = response["output"]
            assert answer_of({"output": [preamble]}) == TOOL_PREAMBLE
            assert (weather["name"], json.loads(weather["arguments"])) == ("get_weather", {"location": "Paris"})
            assert (time["name"], json.loads(time["arguments"])) == ("get_current_time", {"timezone": "Asia/Tokyo"})
            assert weather["call_id"] != time["call_id"]
            await send_output(client, time, TIME)  # outputs may come back in any order
            await send_output(client, weather, WEATHER)
            answer, _ = await respond(client)
            assert answer_of(answer) == "The weather in Paris is sunny at 18°C. It is 21:04 in Asia/Tokyo."


@pytest.mark.parametrize("where", ["session", "response"])
async def test_without_parallel_tool_calls_one_call_per_response(start_server: StartServer, where: str) -> None:
    server = await start_server()
    in_session = {"parallel_tool_calls": False} if where == "session" else {}
    in_response = {"parallel_tool_calls": False} if where == "response" else {}
    with trio.fail_after(10):
        async with session(server, tools=[WEATHER_TOOL, TIME_TOOL], output_modalities=["text"], **in_session) as client:
            first, _ = await respond(client, BOTH, **in_response)
            assert [i["type"] for i in first["output"]] == ["message", "function_call"]
            await send_output(client, first["output"][1], WEATHER)
            second, _ = await respond(client, **in_response)
            assert [i["type"] for i in second["output"]] == ["function_call"]  # the next call, after the first output
            assert second["output"][0]["name"] == "get_current_time"
            await send_output(client, second["output"][0], TIME)
            answer, _ = await respond(client, **in_response)
            assert answer_of(answer) == "The weather in Paris is sunny at 18°C. It is 21:04 in Asia/Tokyo."


async def test_the_seed_model_keeps_one_call_and_no_preamble(start_server: StartServer) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server, "gpt-realtime", tools=[WEATHER_TOOL, TIME_TOOL], output_modalities=["text"]) as client:
            response, _ = await respond(client, BOTH)
            assert [i["type"] for i in response["output"]] == ["function_call"]
            assert "reasoning_tokens" not in response["usage"]["output_token_details"]
            response, _ = await respond(client, "tell me a short story")
            assert [i["type"] for i in response["output"]] == ["message"]


async def test_long_answer_is_two_message_items_in_one_response(start_server: StartServer) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server) as client:
            response, seen = await respond(client, "tell me a short story")
            preamble, story = response["output"]
            assert preamble["content"][0]["transcript"] == LONG_PREAMBLE
            assert story["content"][0]["transcript"] == SHORT_STORY
            assert preamble["status"] == story["status"] == "completed"
            deltas = [e["item_id"] for e in seen if e["type"] == "response.output_audio.delta"]
            assert deltas == sorted(deltas, key=[preamble["id"], story["id"]].index)  # the preamble's audio first
            audio_ms = sum(len(base64.b64decode(e["delta"])) for e in seen if e["type"] == "response.output_audio.delta") // 48
            assert response["usage"]["output_token_details"]["audio_tokens"] == pytest.approx(audio_ms / 50, abs=2)


async def barge_in(client: Client) -> dict[str, Any]:
    """The user talks over the response: speech_started cancels it (turn_detected); its response.done."""
    await client.append(tone(300) + silence(400))
    done, seen = await client.until("response.done")
    assert "input_audio_buffer.speech_started" in types_of(seen)
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    return done["response"]  # type: ignore[no-any-return]


async def truncate(client: Client, item_id: str, ms: int, event_id: str = "t") -> dict[str, Any]:
    await client.send({"type": "conversation.item.truncate", "event_id": event_id, "item_id": item_id, "content_index": 0, "audio_end_ms": ms})
    while True:
        event = await client.recv()
        if event["type"] in ("conversation.item.truncated", "error"):
            return event


async def test_barge_in_during_the_preamble_truncates_the_preamble(start_server: StartServer, fake_speech: FakeSpeech) -> None:
    fake_speech.heard = ["tell me a short story", "stop"]
    server = await start_server(audio_chunk_ms=100, pacing_ms=100.0)  # the preamble is 4 chunks, 100 ms apart
    with trio.fail_after(10):
        async with session(server) as client:
            await client.append(silence(200) + tone(600) + silence(300))
            first, _ = await client.until("response.output_audio.delta")
            response = await barge_in(client)
            (preamble,) = response["output"]  # the story never started
            assert preamble["id"] == first["item_id"] and preamble["status"] == "incomplete"
            sent_ms = sum(len(base64.b64decode(e["delta"])) for e in client.received if e["type"] == "response.output_audio.delta") // 48
            assert 0 < sent_ms < 340
            too_far = await truncate(client, preamble["id"], sent_ms + 100)
            assert too_far["type"] == "error" and too_far["error"]["message"] == f"Audio content of {sent_ms}ms is already shorter than {sent_ms + 100}ms"
            truncated = await truncate(client, preamble["id"], 60)
            assert truncated["type"] == "conversation.item.truncated" and truncated["item_id"] == preamble["id"]
            await client.send({"type": "conversation.item.retrieve", "item_id": preamble["id"]})
            retrieved, _ = await client.until("conversation.item.retrieved")
            assert len(base64.b64decode(retrieved["item"]["content"][0]["audio"])) == 60 * 48


@pytest.mark.parametrize("order", ["at-end", "sequential"])
async def test_barge_in_during_the_story_truncates_the_story(start_server: StartServer, fake_speech: FakeSpeech, order: str) -> None:
    fake_speech.heard = ["tell me a short story", "stop"]
    server = await start_server(audio_chunk_ms=1000, pacing_ms=40.0, item_done_order=order)
    with trio.fail_after(10):
        async with session(server) as client:
            await client.append(silence(200) + tone(600) + silence(300))
            deltas = []
            while len({d["item_id"] for d in deltas}) < 2:  # into the story's audio
                event, _ = await client.until("response.output_audio.delta")
                deltas.append(event)
            response = await barge_in(client)
            preamble, story = response["output"]
            assert preamble["status"] == "completed" and preamble["content"][0]["transcript"] == LONG_PREAMBLE
            assert story["status"] == "incomplete" and 0 < len(story["content"][0]["transcript"]) < len(SHORT_STORY)
            assert response["usage"]["output_tokens"] > 0
            story_ms = sum(len(base64.b64decode(e["delta"])) for e in client.received
                           if e["type"] == "response.output_audio.delta" and e["item_id"] == story["id"]) // 48  # fmt: skip
            assert story_ms >= 1000
            assert (await truncate(client, story["id"], story_ms + 1))["type"] == "error"  # bounded by the story's own audio
            assert (await truncate(client, story["id"], 700))["type"] == "conversation.item.truncated"
            assert (await truncate(client, preamble["id"], 340))["type"] == "conversation.item.truncated"
            await client.send({"type": "conversation.item.retrieve", "item_id": story["id"]})
            retrieved, _ = await client.until("conversation.item.retrieved")
            heard = retrieved["item"]["content"][0]["transcript"]
            assert SHORT_STORY.startswith(heard) and 0 < len(heard) < 60


async def test_truncate_while_the_response_is_still_open(start_server: StartServer) -> None:
    """A client may truncate before cancelling: the open item is cut at what was sent, and stays cut."""
    server = await start_server(audio_chunk_ms=1000, pacing_ms=40.0)
    with trio.fail_after(10):
        async with session(server) as client:
            await client.send({"type": "conversation.item.create", "item": user_text("tell me a short story")})
            await client.send({"type": "response.create"})
            first, _ = await client.until("response.output_audio.delta")
            truncated = await truncate(client, first["item_id"], 100)
            assert truncated["type"] == "conversation.item.truncated"
            await client.send({"type": "conversation.item.retrieve", "item_id": first["item_id"]})
            retrieved, _ = await client.until("conversation.item.retrieved")
            assert retrieved["item"]["content"][0]["transcript"] == "Sure,"  # the words in 100 of its 340 ms
            done, _ = await client.until("response.done")
            await client.send({"type": "conversation.item.retrieve", "item_id": first["item_id"]})
            retrieved, _ = await client.until("conversation.item.retrieved")
            assert len(base64.b64decode(retrieved["item"]["content"][0]["audio"])) == 100 * 48
            assert done["response"]["output"][0]["id"] == first["item_id"]


@pytest.mark.parametrize(("model", "accepted"), [("gpt-realtime-2.1", True), ("gpt-realtime-2-2026-05-07", True), ("gpt-realtime", False)])
async def test_reasoning_settings_for_reasoning_models_only(start_server: StartServer, model: str, accepted: bool) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server, model) as client:
            created = client.received[0]["session"]
            if accepted:
                assert created["reasoning"] == {"effort": "low"} and created["parallel_tool_calls"] is True
            else:
                assert "reasoning" not in created and "parallel_tool_calls" not in created
            for key, value in (("reasoning", {"effort": "high"}), ("parallel_tool_calls", False)):
                await client.send({"type": "session.update", "event_id": f"u_{key}", "session": {"type": "realtime", key: value}})
                event = await client.recv()
                if accepted:
                    assert event["type"] == "session.updated" and event["session"][key] == value
                else:
                    assert event["type"] == "error" and event["error"] == {
                        "type": "invalid_request_error", "code": "unsupported_parameter", "param": f"session.{key}",
                        "message": f"Unsupported parameter: 'session.{key}' is not supported with this model.", "event_id": f"u_{key}",
                    }  # fmt: skip
            await client.send({"type": "conversation.item.create", "item": user_text("hello")})
            await client.send({"type": "response.create", "event_id": "r1", "response": {"reasoning": {"effort": "minimal"}, "output_modalities": ["text"]}})
            event, _ = await client.until("response.done" if accepted else "error")
            if not accepted:
                assert (event["error"]["code"], event["error"]["param"]) == ("unsupported_parameter", "response.reasoning")
            await client.send({"type": "session.update", "event_id": "bad", "session": {"type": "realtime", "reasoning": {"effort": "extreme"}}})
            error, _ = await client.until("error")
            assert error["error"]["code"] in ("invalid_value", "unsupported_parameter")


async def test_reasoning_tokens_are_output_text_tokens_and_grow_with_effort(start_server: StartServer) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server, output_modalities=["text"]) as client:
            seen = {}
            for effort in ("minimal", "low", "high", "xhigh"):
                response, _ = await respond(client, "the sky is green today", reasoning={"effort": effort})
                usage = response["usage"]
                details = usage["output_token_details"]
                reply = answer_of(response)
                assert details["reasoning_tokens"] == REASONING_TOKENS[effort]
                assert details["text_tokens"] == -(-len(reply) // 4) + details["reasoning_tokens"]  # inside text tokens
                assert usage["output_tokens"] == details["text_tokens"] + details["audio_tokens"]
                assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
                seen[effort] = usage["output_tokens"]
            assert seen["minimal"] < seen["low"] < seen["high"] < seen["xhigh"]
            # the session's effort applies when a response names none; reasoning is not re-billed as input
            await client.send({"type": "session.update", "session": {"type": "realtime", "reasoning": {"effort": "medium"}}})
            await client.until("session.updated")
            response, _ = await respond(client, "the sky is green today")
            assert response["usage"]["output_token_details"]["reasoning_tokens"] == REASONING_TOKENS["medium"]


async def test_tool_calls_scale_reasoning_tokens(start_server: StartServer) -> None:
    server = await start_server()
    with trio.fail_after(10):
        async with session(server, tools=[WEATHER_TOOL, TIME_TOOL], output_modalities=["text"]) as client:
            response, _ = await respond(client, BOTH)
            assert response["usage"]["output_token_details"]["reasoning_tokens"] == 2 * REASONING_TOKENS["low"]
