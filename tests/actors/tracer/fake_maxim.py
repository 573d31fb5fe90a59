"""A stand-in Maxim API on 127.0.0.1 that records every request, and a guard against other hosts.

``FakeMaxim("answer")`` answers ``{}`` (what maxim-py's ``push_logs`` accepts); ``"silent"`` accepts
connections (the kernel's backlog) but never reads or answers; ``"refuse"`` is a port nobody listens on.
maxim-py pushes commit logs as ``POST /api/sdk/v3/log?id=<repo>`` whose body is lines of
``<entity>{id=<id>,action=<action>,data=<json>}``; ``commit_logs`` parses them back. Attachments are
uploaded as the real service has it: ``GET .../attachments/upload-url`` answers a signed URL (here, this
server's ``/upload/...``), to which the SDK ``PUT``s the bytes; ``uploads`` returns them.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import attrs

UPLOAD_URL = "/api/sdk/v1/log-repositories/attachments/upload-url"
LINE = re.compile(r"^(?P<entity>\w+)\{id=(?P<id>[^,]+),action=(?P<action>[^,]+),data=(?P<data>.*)\}$")


@attrs.frozen
class Request:
    method: str
    path: str
    api_key: str | None
    body: str
    raw: bytes = b""


@attrs.frozen
class CommitLog:
    entity: str
    id: str
    action: str
    data: dict[str, Any]


class FakeMaxim:
    def __init__(self, mode: str = "answer") -> None:
        self.mode = mode
        self.requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._listener: socket.socket | None = None
        if mode == "answer":
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
            self._server.daemon_threads = True
            self.port = self._server.server_address[1]
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
        elif mode == "silent":
            self._listener = socket.socket()
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(64)
            self.port = self._listener.getsockname()[1]
        else:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
            probe.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        requests = self.requests
        fake = self  # its port is known once the server is bound, after this class is made

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = raw.decode(errors="replace")
                requests.append(Request(self.command, self.path, self.headers.get("x-maxim-api-key"), body, raw))
                payload = b"{}"
                if self.path.startswith(UPLOAD_URL):
                    key = parse_qs(urlsplit(self.path).query).get("key", [""])[0]
                    payload = json.dumps({"data": {"url": f"{fake.base_url}/upload/{quote(key, safe='')}"}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        return Handler

    def commit_logs(self) -> list[CommitLog]:
        logs = []
        for request in self.requests:
            if not request.path.startswith("/api/sdk/v3/log"):
                continue
            for line in request.body.splitlines():
                match = LINE.match(line)
                assert match is not None, line
                logs.append(CommitLog(match["entity"], match["id"], match["action"], json.loads(match["data"])))
        return logs

    def uploads(self) -> list[Request]:
        """The attachment bytes the SDK put to the signed URLs."""
        return [r for r in self.requests if r.method == "PUT" and r.path.startswith("/upload/")]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._listener is not None:
            self._listener.close()


class LoopbackOnly:
    """Patches ``socket.socket.connect`` (every thread) to refuse and record any non-loopback address."""

    def __init__(self) -> None:
        self.violations: list[Any] = []

    def install(self, monkeypatch: Any) -> None:
        original = socket.socket.connect
        violations = self.violations

        def connect(sock: socket.socket, address: Any) -> None:
            host = address[0] if isinstance(address, tuple) else address
            if host not in ("127.0.0.1", "::1", "localhost"):
                violations.append(address)
                raise OSError(f"test guard: no network beyond loopback ({address!r})")
            original(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)


def by_entity(logs: list[CommitLog], entity: str, action: str) -> Iterator[CommitLog]:
    return (log for log in logs if log.entity == entity and log.action == action)
