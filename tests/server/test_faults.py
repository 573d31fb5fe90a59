"""The reconnect faults over real loopback WebSockets: dropped sockets (1006, per connection, at chosen moments),
the session limit (session_expired, then 1001) and refused reconnections (HTTP 503)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from pipeline.clock import SimClock
from pipeline.models import DEFAULT_REALTIME_MODEL
from pipeline.server import ServerConfig
from pipeline.server.cli import add_parser, config_from_args
from pipeline.server.config import DropPoint
from tests.server.conftest import StartServer
from tests.server.support import Client, types_of
from tests.server.test_realtime_ws import WEATHER_TOOL, user_text


def serve_args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rtpipe")
    add_parser(parser.add_subparsers())
    return parser.parse_args(["serve", *flags])


async def closed_code(client: Client) -> int:
    """Receive until the connection ends; the close code the client saw (1006: no close frame)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.recv()
    return int(closed.value.reason.code)


async def ask_weather(client: Client) -> None:
    await client.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL], "output_modalities": ["text"]}})
    await client.until("session.updated")
    await client.send({"type": "conversation.item.create", "item": user_text("what is the weather in Paris")})
    await client.send({"type": "response.create"})


def test_flags_map_to_config_fields() -> None:
    args = serve_args("--drop-socket-after", "2.5", "--drop-socket-on", "tool-call", "--drop-socket-on", "audio:2",
                      "--refuse-connections-after", "3", "--max-session-s", "9", "--item-done-order", "sequential")  # fmt: skip
    config = config_from_args(args)
    assert config.drop_socket_after_s == 2.5 and config.max_session_s == 9.0
    assert config.drop_socket_on == (DropPoint("tool-call", 1), DropPoint("audio", 2))
    assert config.refuse_connections_after == 3 and config.item_done_order == "sequential"
    assert config_from_args(serve_args()).model == DEFAULT_REALTIME_MODEL == ServerConfig().model
    assert ServerConfig(drop_socket_on="response:4").drop_socket_on == (DropPoint("response", 4),)


@pytest.mark.parametrize("text", ["nope", "audio:0", "audio:x", "tool-call:-1"])
def test_bad_drop_moment_is_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        serve_args("--drop-socket-on", text)
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--drop-socket-on" in error and ("tool-call" in error or "positive integer" in error)


@pytest.fixture
def sim_clock() -> SimClock:
    return SimClock()


async def test_drop_after_is_per_connection_and_repeats(start_server: StartServer, sim_clock: SimClock) -> None:
    """On session time (the simulated clock), so the machine's load cannot move the drop."""
    server = await start_server(drop_socket_after_s=30.0)
    with trio.fail_after(600):
        for _ in range(3):  # a reconnected client is dropped again, S after its own connection opened
            opened = trio.current_time()
            async with open_websocket_url(server.realtime_url) as ws:
                client = Client(ws)
                assert (await client.recv())["type"] == "session.created"
                assert await closed_code(client) == 1006
            assert trio.current_time() - opened == pytest.approx(30.0, abs=0.5)


async def test_drop_after_runs_on_session_time(start_server: StartServer, sim_clock: SimClock) -> None:
    """On the simulated clock, a drop 40 s into the session happens at once in real time, 40 s in session time."""
    server = await start_server(drop_socket_after_s=40.0)
    real = time.monotonic()
    with trio.fail_after(60):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            opened = trio.current_time()
            await client.recv()
            assert await closed_code(client) == 1006
            assert trio.current_time() - opened == pytest.approx(40.0, abs=0.5)
    assert time.monotonic() - real < 5


@pytest.mark.parametrize(("limit_s", "said"), [(3600.0, "60 minutes"), (8.0, "8 seconds")])
async def test_session_expiry_wording_and_close(start_server: StartServer, sim_clock: SimClock, limit_s: float, said: str) -> None:
    """The real wording at the real limit; a short test limit (the reconnect tests' --max-session-s 8) in seconds."""
    server = await start_server(max_session_s=limit_s)
    with trio.fail_after(8000):
        for _ in range(2):  # each connection has its own limit
            async with open_websocket_url(server.realtime_url) as ws:
                client = Client(ws)
                opened = trio.current_time()
                created = await client.recv()
                error = await client.recv()
                assert error["type"] == "error" and error["error"] == {
                    "type": "invalid_request_error", "code": "session_expired", "param": None, "event_id": None,
                    "message": f"Your session hit the maximum duration of {said}.",
                }  # fmt: skip
                assert trio.current_time() - opened == pytest.approx(limit_s, abs=1.0)
                assert abs(created["session"]["expires_at"] - (time.time() + limit_s)) < 30  # real epoch seconds
                assert await closed_code(client) == 1001


async def test_refuse_connections_after(start_server: StartServer) -> None:
    server = await start_server(refuse_connections_after=2)
    with trio.fail_after(5):
        for _ in range(2):
            async with open_websocket_url(server.realtime_url) as ws:
                assert json.loads(await ws.get_message())["type"] == "session.created"
        for _ in range(2):
            with pytest.raises(ConnectionRejected) as rejected:
                async with open_websocket_url(server.realtime_url):
                    pass
            assert rejected.value.status_code == 503
            body: dict[str, Any] = json.loads(rejected.value.body or b"{}")
            assert body["error"]["code"] == "service_unavailable"


async def test_refuse_all_connections(start_server: StartServer) -> None:
    server = await start_server(refuse_connections_after=0)
    with trio.fail_after(5), pytest.raises(ConnectionRejected):
        async with open_websocket_url(server.realtime_url):
            pass


async def test_drop_on_tool_call_fires_once(start_server: StartServer) -> None:
    server = await start_server(drop_socket_on=("tool-call",))
    with trio.fail_after(5):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            await ask_weather(client)
            done, _ = await client.until("response.function_call_arguments.done")
            assert done["name"] == "get_weather"
            assert await closed_code(client) == 1006
            # the client had the call, not the rest of the response
            assert "response.done" not in types_of(client.received)
        async with open_websocket_url(server.realtime_url) as ws:  # the reconnected client is not dropped again
            client = Client(ws)
            await client.recv()
            await ask_weather(client)
            response, _ = await client.until("response.done")
            assert response["response"]["output"][-1]["type"] == "function_call"


async def test_drop_in_the_middle_of_the_second_audio_item(start_server: StartServer) -> None:
    server = await start_server(drop_socket_on=("audio:2",), model="gpt-realtime")
    with trio.fail_after(10):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            for text in ("hello", "tell me a short story"):
                await client.send({"type": "conversation.item.create", "item": user_text(text)})
                await client.send({"type": "response.create"})
                if text == "hello":
                    await client.until("response.done")
            assert await closed_code(client) == 1006
            second = [e for e in client.received if e["type"] == "response.output_audio.delta"]
            item_ids = list(dict.fromkeys(e["item_id"] for e in second))
            assert len(item_ids) == 2
            deltas = sum(1 for e in second if e["item_id"] == item_ids[1])
            assert deltas >= 2  # the story is many chunks: half were sent, then the drop
            assert sum(1 for e in client.received if e["type"] == "response.done") == 1


async def test_drop_on_response_created(start_server: StartServer) -> None:
    server = await start_server(drop_socket_on=("response:1",))
    with trio.fail_after(5):
        async with open_websocket_url(server.realtime_url) as ws:
            client = Client(ws)
            await client.recv()
            await client.send({"type": "conversation.item.create", "item": user_text("hello")})
            await client.send({"type": "response.create"})
            assert await closed_code(client) == 1006
            assert types_of(client.received)[-1] == "response.created"
