"""Re-seeding a conversation on a new connection (the contract's seed item shapes) over a real loopback WebSocket:
every shape is accepted with conversation.item.added/done under its client id in the chained order, billed in
the next response's usage with the real accounting, and heard by the brain (user audio through the recogniser)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from pipeline.server.usage import text_tokens
from tests.server.conftest import StartServer
from tests.server.support import Client, FakeSpeech, silence, tone
from tests.server.test_realtime_ws import WEATHER_TOOL

SUMMARY = "The user asked about lighthouses in Brittany and then about the weather in Paris."
WEATHER_OUTPUT = json.dumps({"location": "Paris", "temperature": "18°C", "condition": "sunny"})


def seed_items(audio: bytes | None = None) -> list[dict[str, Any]]:
    """One item of each shape, as `pipeline.projections.seed.build_seed` makes them."""
    user_audio: dict[str, Any] = {
        "id": "item_u2", "type": "message", "role": "user",
        "content": [{"type": "input_audio", "audio": base64.b64encode(audio or tone(1500)).decode()}],
    }  # fmt: skip
    return [
        {"id": "sum_001", "type": "message", "role": "system", "content": [{"type": "input_text", "text": SUMMARY}]},
        {"id": "item_u1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "what is the weather in Paris"}]},
        {"id": "item_f1", "type": "function_call", "call_id": "call_abc123", "name": "get_weather", "arguments": '{"location": "Paris"}'},
        {"id": "item_o1", "type": "function_call_output", "call_id": "call_abc123", "output": WEATHER_OUTPUT},
        {"id": "item_a1", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "The weather in Paris is sunny at 18°C."}]},
        user_audio,
    ]  # fmt: skip


async def reseed(client: Client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create `items` chained from the root, as the conductor does; return the conversation.item.done events."""
    previous = "root"
    for index, item in enumerate(items):
        await client.send({"type": "conversation.item.create", "event_id": f"seed_{index}", "previous_item_id": previous, "item": item})
        previous = item["id"]
    done = []
    for _ in items:
        event, seen = await client.until("conversation.item.done")
        assert not [e for e in seen if e["type"] == "error"], seen
        done.append(event)
    return done


async def connect(server: Any, model: str = "gpt-realtime") -> Any:
    return open_websocket_url(f"{server.realtime_url}?model={model}")


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-2.1"])
async def test_every_seed_shape_is_accepted_in_order(start_server: StartServer, fake_speech: FakeSpeech, model: str) -> None:
    fake_speech.heard = ["tell me about lighthouses"]
    server = await start_server()
    with trio.fail_after(10):
        async with await connect(server, model) as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL]}})
            await client.until("session.updated")
            items = seed_items()
            done = await reseed(client, items)
            added = [e for e in client.received if e["type"] == "conversation.item.added"]
            assert [e["item"]["id"] for e in added] == [e["item"]["id"] for e in done] == [i["id"] for i in items]
            assert [e["previous_item_id"] for e in done] == [None, *[i["id"] for i in items[:-1]]]
            shown = {e["item"]["id"]: e["item"] for e in done}
            assert shown["sum_001"]["role"] == "system" and shown["sum_001"]["content"][0]["text"] == SUMMARY
            assert shown["item_f1"] == {**shown["item_f1"], "type": "function_call", "call_id": "call_abc123", "name": "get_weather",
                                        "arguments": '{"location": "Paris"}', "status": "completed"}  # fmt: skip
            assert shown["item_o1"]["output"] == WEATHER_OUTPUT and shown["item_o1"]["call_id"] == "call_abc123"
            assert shown["item_a1"]["content"] == [{"type": "output_text", "text": "The weather in Paris is sunny at 18°C."}]
            # user audio: its bytes are not echoed; the transcript stays null (transcription is off)
            assert shown["item_u2"]["content"] == [{"type": "input_audio", "transcript": None}]
            await client.send({"type": "conversation.item.retrieve", "item_id": "item_u2"})
            retrieved, _ = await client.until("conversation.item.retrieved")
            assert base64.b64decode(retrieved["item"]["content"][0]["audio"]) == tone(1500)


async def test_seeded_items_are_billed_with_the_real_accounting(start_server: StartServer, fake_speech: FakeSpeech) -> None:
    fake_speech.heard = ["tell me about lighthouses"]
    server = await start_server()
    with trio.fail_after(10):
        async with await connect(server) as ws:
            client = Client(ws)
            created = await client.recv()
            instructions = created["session"]["instructions"]
            items = seed_items()
            await reseed(client, items)
            await client.send({"type": "response.create", "response": {"output_modalities": ["text"], "tools": []}})
            done, _ = await client.until("response.done")
            usage = done["response"]["usage"]
            texts = [SUMMARY, "what is the weather in Paris", 'get_weather{"location": "Paris"}', WEATHER_OUTPUT,
                     "The weather in Paris is sunny at 18°C."]  # fmt: skip
            expected_text = text_tokens(instructions) + sum(text_tokens(t) for t in texts)
            assert usage["input_token_details"]["text_tokens"] == expected_text
            assert usage["input_token_details"]["audio_tokens"] == 15  # 1.5 s of user audio at 10 tokens/s
            assert usage["input_tokens"] == expected_text + 15
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-2.1"])
async def test_what_did_we_talk_about_first_reads_the_seeded_summary(start_server: StartServer, fake_speech: FakeSpeech, model: str) -> None:
    fake_speech.heard = ["tell me about lighthouses"]
    server = await start_server()
    with trio.fail_after(10):
        async with await connect(server, model) as ws:
            client = Client(ws)
            await client.recv()
            await reseed(client, seed_items())
            await client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "what did we talk about at the beginning"}]}})  # fmt: skip
            await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            done, _ = await client.until("response.done")
            answer = done["response"]["output"][-1]["content"][0]["text"]
            assert answer.startswith("The conversation started with this: The user asked about lighthouses in Brittany")


async def test_without_a_summary_the_first_seeded_user_words_are_read_back(start_server: StartServer, fake_speech: FakeSpeech) -> None:
    """The first user turn was seeded as audio only (no transcript): the brain hears it through the recogniser."""
    fake_speech.heard = ["my cat is called Felix"]
    server = await start_server()
    with trio.fail_after(10):
        async with await connect(server) as ws:
            client = Client(ws)
            await client.recv()
            audio = {"id": "item_u0", "type": "message", "role": "user",
                     "content": [{"type": "input_audio", "audio": base64.b64encode(silence(100) + tone(900)).decode()}]}  # fmt: skip
            later = {"id": "item_u1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
            await reseed(client, [audio, later])
            await client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "what did I say first"}]}})  # fmt: skip
            await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            done, _ = await client.until("response.done")
            assert done["response"]["output"][-1]["content"][0]["text"] == "You first said: my cat is called Felix"


async def test_a_reseeded_tool_output_gets_its_answer(start_server: StartServer) -> None:
    """The response that was lost with the old connection: after the seed, one response.create speaks the output."""
    server = await start_server()
    with trio.fail_after(10):
        async with await connect(server) as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL], "output_modalities": ["text"]}})
            await client.until("session.updated")
            await reseed(client, seed_items()[1:4])  # user turn, the call, its output
            await client.send({"type": "response.create"})
            done, _ = await client.until("response.done")
            assert done["response"]["output"][-1]["content"][0]["text"] == "The weather in Paris is sunny at 18°C."


@pytest.mark.slow
async def test_seeded_audio_is_heard_by_the_real_recogniser(start_server: StartServer) -> None:
    from pipeline.audio.tts import synthesize

    server = await start_server(real_speech=True)
    with trio.fail_after(120):
        speech = await trio.to_thread.run_sync(lambda: synthesize("my cat is called Felix", voice="en-us"))
        async with await connect(server) as ws:
            client = Client(ws)
            await client.recv()
            audio = {"id": "item_u0", "type": "message", "role": "user",
                     "content": [{"type": "input_audio", "audio": base64.b64encode(silence(200) + speech + silence(300)).decode()}]}  # fmt: skip
            await reseed(client, [audio])
            await client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "what did we talk about first"}]}})  # fmt: skip
            await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            done, _ = await client.until("response.done")
            answer = done["response"]["output"][-1]["content"][0]["text"].lower()
            assert answer.startswith("you first said:") and "cat" in answer and "felix" in answer


# --- a re-seeded call whose output is already there: the brain answers from it, it does not call again -------

CLOCK_TOOL = {
    "type": "function", "name": "get_current_time", "description": "Get the current date and time",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
}  # fmt: skip
CLOCK_OUTPUT = json.dumps({"date": "2026-12-02", "time": "03:16:46", "timezone": "UTC"})
CLOCK_ANSWER = "It is 03:16:46 in UTC on 2026-12-02."


def asked_and_called(*, reasoning: bool, audio: bool = False, tail: bool = True) -> list[dict[str, Any]]:
    """A call that was lost after its tool ran: the question, (a reasoning model's preamble), the call, its
    output, and (tail) the answer the drop cut after its first words."""
    if audio:
        question: dict[str, Any] = {"id": "item_q", "type": "message", "role": "user",
                                    "content": [{"type": "input_audio", "audio": base64.b64encode(tone(900)).decode()}]}  # fmt: skip
    else:
        question = {"id": "item_q", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "what time is it"}]}
    preamble = {"id": "item_p", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check that."}]}
    call = {"id": "item_c", "type": "function_call", "call_id": "call_clock000000001", "name": "get_current_time", "arguments": "{}"}
    output = {"id": "item_o", "type": "function_call_output", "call_id": "call_clock000000001", "output": CLOCK_OUTPUT}
    cut = {"id": "item_cut", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is 03:16"}]}
    return [question, *([preamble] if reasoning else []), call, output, *([cut] if tail else [])]


async def answer_after_seed(server: Any, model: str, tools: list[dict[str, Any]], items: list[dict[str, Any]],
                            **response: Any) -> dict[str, Any]:  # fmt: skip
    async with await connect(server, model) as ws:
        client = Client(ws)
        await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime", "tools": tools, "output_modalities": ["text"]}})
        await client.until("session.updated")
        await reseed(client, items)
        await client.send({"type": "response.create", **({"response": response} if response else {})})
        done, _ = await client.until("response.done")
        result: dict[str, Any] = done["response"]
        return result


def spoken(response: dict[str, Any]) -> list[str]:
    return [str(item["content"][0]["text"]) for item in response["output"] if item["type"] == "message"]


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-realtime-2.1"])
@pytest.mark.parametrize("shape", ["output last", "cut answer after the output", "question as audio"])
async def test_a_reseeded_output_answers_the_question_without_calling_again(
    start_server: StartServer, fake_speech: FakeSpeech, model: str, shape: str
) -> None:
    fake_speech.heard = ["what time is it"]
    reasoning = model != "gpt-realtime"
    items = asked_and_called(reasoning=reasoning, audio=shape == "question as audio", tail=shape != "output last")
    server = await start_server()
    with trio.fail_after(10):
        response = await answer_after_seed(server, model, [CLOCK_TOOL], items)
    assert [item["type"] for item in response["output"]] == ["message"]  # no second call, no second preamble
    assert spoken(response) == [CLOCK_ANSWER]


async def test_an_answered_call_asked_again_by_the_client_speaks_the_output_once_more(start_server: StartServer) -> None:
    """A live call (the items made by the server itself): after the answer, a client response.create with no new
    user message answers from the output again instead of running the tool a second time."""
    server = await start_server()
    with trio.fail_after(10):
        async with await connect(server, "gpt-realtime-2.1") as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [CLOCK_TOOL], "output_modalities": ["text"]}})
            await client.until("session.updated")
            await client.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "what time is it"}]}})  # fmt: skip
            await client.send({"type": "response.create"})
            first, _ = await client.until("response.done")
            call = first["response"]["output"][-1]
            assert call["type"] == "function_call"
            await client.send({"type": "conversation.item.create",
                               "item": {"type": "function_call_output", "call_id": call["call_id"], "output": CLOCK_OUTPUT}})  # fmt: skip
            for _ in range(2):
                await client.send({"type": "response.create"})
                done, _ = await client.until("response.done")
                assert [i["type"] for i in done["response"]["output"]] == ["message"]
                assert spoken(done["response"]) == [CLOCK_ANSWER]


async def test_two_reseeded_calls_with_their_outputs_get_one_answer_in_call_order(start_server: StartServer) -> None:
    from tests.server.test_reasoning_ws import BOTH, TIME, TIME_TOOL

    items: list[dict[str, Any]] = [
        {"id": "item_q", "type": "message", "role": "user", "content": [{"type": "input_text", "text": BOTH}]},
        {"id": "item_p", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check that."}]},
        {"id": "item_c1", "type": "function_call", "call_id": "call_weather000001", "name": "get_weather", "arguments": '{"location": "Paris"}'},
        {"id": "item_c2", "type": "function_call", "call_id": "call_time00000001", "name": "get_current_time", "arguments": '{"timezone": "Asia/Tokyo"}'},
        {"id": "item_o2", "type": "function_call_output", "call_id": "call_time00000001", "output": TIME},
        {"id": "item_o1", "type": "function_call_output", "call_id": "call_weather000001", "output": WEATHER_OUTPUT},
        {"id": "item_cut", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "The weather in"}]},
    ]  # fmt: skip
    server = await start_server()
    with trio.fail_after(10):
        response = await answer_after_seed(server, "gpt-realtime-2.1", [WEATHER_TOOL, TIME_TOOL], items)
    assert [item["type"] for item in response["output"]] == ["message"]
    assert spoken(response) == ["The weather in Paris is sunny at 18°C. It is 21:04 in Asia/Tokyo."]


async def test_without_parallel_calls_a_reseeded_first_output_still_leads_to_the_next_call(start_server: StartServer) -> None:
    from tests.server.test_reasoning_ws import BOTH, TIME_TOOL

    items: list[dict[str, Any]] = [
        {"id": "item_q", "type": "message", "role": "user", "content": [{"type": "input_text", "text": BOTH}]},
        {"id": "item_p", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check that."}]},
        {"id": "item_c1", "type": "function_call", "call_id": "call_weather000001", "name": "get_weather", "arguments": '{"location": "Paris"}'},
        {"id": "item_o1", "type": "function_call_output", "call_id": "call_weather000001", "output": WEATHER_OUTPUT},
    ]  # fmt: skip
    server = await start_server()
    with trio.fail_after(10):
        response = await answer_after_seed(server, "gpt-realtime-2.1", [WEATHER_TOOL, TIME_TOOL], items, parallel_tool_calls=False)
    [call] = response["output"]
    assert (call["type"], call["name"], json.loads(call["arguments"])) == ("function_call", "get_current_time", {"timezone": "Asia/Tokyo"})


# --- a re-seeded call from a server with the same --seed: its ids are skipped, never handed out again ----------


async def ids_of_a_vad_turn_after(server: Any, items: list[dict[str, Any]]) -> dict[str, str]:
    """Re-seed `items`, then a spoken weather question: the ids the server made for the turn and its call."""
    async with await connect(server) as ws:
        client = Client(ws)
        await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL], "output_modalities": ["text"]}})
        await client.until("session.updated")
        await reseed(client, items)
        await client.append(silence(300) + tone(900) + silence(500))
        seen = []
        while not seen or seen[-1]["type"] not in ("response.done", "error"):
            seen.append(await client.recv())
        assert seen[-1]["type"] == "response.done", seen[-1]  # not "an item with id ... already exists"
        done = seen[-1]
        [started] = [e for e in seen if e["type"] == "input_audio_buffer.speech_started"]
        [committed] = [e for e in seen if e["type"] == "input_audio_buffer.committed"]
        [call] = done["response"]["output"]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert committed["item_id"] == started["item_id"] and committed["previous_item_id"] == items[-1]["id"]
        return {"user": started["item_id"], "call item": call["id"], "call_id": call["call_id"]}


async def test_ids_a_same_seed_server_made_before_are_skipped_deterministically(start_server: StartServer, fake_speech: FakeSpeech) -> None:
    """`--resume` of a call recorded against a server with the same seed: the re-seeded items carry the ids the
    new server would make next; it skips them (drawing again) instead of colliding, the same way every run."""
    from pipeline.server.ids import IdGenerator

    expected = IdGenerator(7, connection_number=0)  # the fixture's seed, the server's first connection
    item_ids = [expected.new("item") for _ in range(5)]
    call_ids = [expected.new("call") for _ in range(2)]
    parent = [
        {"id": item_ids[0], "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]},
        {"id": item_ids[1], "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello! How can I help you today?"}]},
        {"id": item_ids[2], "type": "function_call", "call_id": call_ids[0], "name": "get_weather", "arguments": '{"location": "Paris"}'},
        {"id": "item_parent_output", "type": "function_call_output", "call_id": call_ids[0], "output": WEATHER_OUTPUT},
    ]  # fmt: skip
    made = []
    for _ in range(2):  # two servers with the same seed, the same history
        fake_speech.heard = ["what is the weather in Paris"]
        server = await start_server()
        with trio.fail_after(10):
            made.append(await ids_of_a_vad_turn_after(server, parent))
    # the next draws (item_ids[0..2], call_ids[0]) were taken: skipped, and the stream went on
    assert made[0] == made[1] == {"user": item_ids[3], "call item": item_ids[4], "call_id": call_ids[1]}
