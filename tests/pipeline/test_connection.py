from __future__ import annotations

import socket

import pytest
import trio
import trio_websocket

from pipeline.connection import (
    ConnectionFailed,
    Endpoint,
    close,
    closed_by_us,
    connect,
    resolve_endpoint,
)

KEY = "-".join(["sk", "test", "SECRET", "0123456789"])  # a fake, built so no line looks like a key
AUTH = (("Authorization", f"Bearer {KEY}"),)


@pytest.mark.parametrize(
    ("server", "api_key", "base_url", "url", "headers", "kind"),
    [
        ("auto", KEY, None, "wss://api.openai.com/v1/realtime?model=gpt-realtime", AUTH, "openai"),
        ("auto", None, None, "", (), "local"),
        ("auto", KEY, "http://127.0.0.1:8000/v1", "ws://127.0.0.1:8000/v1/realtime?model=gpt-realtime", AUTH, "custom"),
        ("local", KEY, None, "", (), "local"),
        ("ws://127.0.0.1:9000/v1/realtime", None, None, "ws://127.0.0.1:9000/v1/realtime?model=gpt-realtime", (),
         "custom"),
        ("wss://example.test/v1/realtime?model=gpt-realtime-2", KEY, None,
         "wss://example.test/v1/realtime?model=gpt-realtime-2", AUTH, "custom"),
        ("wss://example.test/v1/realtime?call_id=rtc_1", None, None, "wss://example.test/v1/realtime?call_id=rtc_1",
         (), "custom"),
        ("http://127.0.0.1:8000/v1", None, None, "ws://127.0.0.1:8000/v1/realtime?model=gpt-realtime", (), "custom"),
        ("https://proxy.example.test/openai/v1/", KEY, None,
         "wss://proxy.example.test/openai/v1/realtime?model=gpt-realtime", AUTH, "custom"),
        ("http://127.0.0.1:8000", None, None, "ws://127.0.0.1:8000/realtime?model=gpt-realtime", (), "custom"),
    ],
)
def test_resolve_endpoint(
    server: str, api_key: str | None, base_url: str | None, url: str, headers: tuple[tuple[str, str], ...], kind: str
) -> None:
    endpoint = resolve_endpoint(server, "gpt-realtime", api_key, base_url=base_url)
    assert (endpoint.url, endpoint.headers, endpoint.kind) == (url, headers, kind)
    assert not any(k.lower() == "openai-beta" for k, _ in endpoint.headers)  # GA protocol


def test_local_endpoint_gets_its_url_from_the_embedded_server() -> None:
    endpoint = resolve_endpoint("local", "gpt-realtime", None)
    assert endpoint.needs_local_server
    started = endpoint.at("ws://127.0.0.1:40123/v1/realtime")
    assert started.url == "ws://127.0.0.1:40123/v1/realtime?model=gpt-realtime"
    assert not started.needs_local_server and started.headers == ()


def test_bad_server_choice_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^--server must be auto, local, or a .* URL, not 'ftp://x'$"):
        resolve_endpoint("ftp://x", "gpt-realtime", None)


def test_endpoint_never_shows_the_key() -> None:
    endpoint = resolve_endpoint("auto", "gpt-realtime", KEY)
    for text in (repr(endpoint), str(endpoint), endpoint.describe(), f"{endpoint}", repr([endpoint])):
        assert KEY not in text
    assert "<redacted>" in repr(endpoint)
    assert endpoint.describe() == "wss://api.openai.com/v1/realtime"


async def test_refused_port_is_one_line_without_the_key() -> None:
    endpoint = Endpoint(url="ws://127.0.0.1:9/v1/realtime?model=gpt-realtime", headers=AUTH)
    with trio.fail_after(10), pytest.raises(ConnectionFailed) as info:
        async with connect(endpoint):
            pass
    assert str(info.value) == "cannot reach ws://127.0.0.1:9/v1/realtime: connection refused (is the server running?)"
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_handshake_rejected_names_the_status() -> None:
    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(401, body=b'{"error": "invalid key ' + KEY.encode() + b'"}')

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        port = server.port
        endpoint = Endpoint(url=f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime", headers=AUTH)
        with trio.fail_after(10), pytest.raises(ConnectionFailed) as info:
            async with connect(endpoint):
                pass
        nursery.cancel_scope.cancel()
    assert str(info.value) == (
        f"cannot connect to ws://127.0.0.1:{port}/v1/realtime: handshake rejected with HTTP 401 "
        "(check OPENAI_API_KEY)"
    )


async def test_silent_server_times_out_with_one_line(autojump_clock: trio.abc.Clock) -> None:
    # a listener that never accepts: the TCP connect succeeds (backlog), the upgrade is never answered
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(60), pytest.raises(ConnectionFailed) as info:
        async with connect(Endpoint(url=f"ws://127.0.0.1:{port}/v1/realtime"), connect_timeout_s=10):
            pass
    assert str(info.value) == f"cannot reach ws://127.0.0.1:{port}/v1/realtime: no answer within 10 s"
    for listener in listeners:
        await listener.aclose()


class NoSuchHost(trio.abc.HostnameResolver):
    """Answers every lookup with "not found", so the test makes no DNS query."""

    async def getaddrinfo(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def getnameinfo(self, *args: object, **kwargs: object) -> tuple[str, str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def test_unknown_host_is_one_line() -> None:
    trio.socket.set_custom_hostname_resolver(NoSuchHost())
    with trio.fail_after(10), pytest.raises(ConnectionFailed) as info:
        async with connect(Endpoint(url="ws://host.invalid/v1/realtime")):
            pass
    assert str(info.value) == "cannot reach ws://host.invalid/v1/realtime: host not found (check the server address)"


async def test_local_endpoint_without_url_cannot_connect() -> None:
    with pytest.raises(ConnectionFailed, match="start the embedded server"):
        async with connect(resolve_endpoint("local", "gpt-realtime", None)):
            pass


async def test_connect_sends_headers_and_the_model_and_errors_in_the_body_pass_through() -> None:
    seen: dict[str, object] = {}

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        seen["path"] = request.path
        seen["headers"] = dict(request.headers)
        ws = await request.accept()
        with trio.move_on_after(5):
            await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        endpoint = resolve_endpoint(f"http://127.0.0.1:{server.port}/v1", "gpt-realtime", KEY)
        with trio.fail_after(10), pytest.raises(KeyError):
            async with connect(endpoint) as ws:
                await ws.send_message("{}")
                raise KeyError("from the body, not a connection failure")
        assert closed_by_us(ws) is False
        nursery.cancel_scope.cancel()
    assert seen["path"] == "/v1/realtime?model=gpt-realtime"
    headers = seen["headers"]
    assert isinstance(headers, dict)
    assert headers[b"authorization"] == f"Bearer {KEY}".encode()
    assert b"openai-beta" not in headers


async def test_close_marks_the_socket_closed_by_us() -> None:
    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        with trio.move_on_after(5):
            await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        with trio.fail_after(10):
            async with connect(Endpoint(url=f"ws://127.0.0.1:{server.port}/v1/realtime")) as ws:
                assert not closed_by_us(ws)
                await close(ws)
                assert closed_by_us(ws) and ws.closed is not None
        nursery.cancel_scope.cancel()
