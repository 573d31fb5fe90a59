"""Where trace operations go: Maxim (maxim-py's logger, called directly) or a local JSON-lines file.

``apply`` is cheap and runs on the event loop (the Maxim logger only queues; the file is buffered). ``close``
blocks (a final synchronous push, then the SDK's upload workers are joined) and must run in a worker thread
under a deadline: the shell does that.

Why ``maxim.logger.Logger`` and not ``Maxim(...).logger(...)``: ``Maxim`` is a process-wide singleton (a
second instance raises), registers an ``atexit`` cleanup that sleeps 2 s and then pushes synchronously with
the SDK's 30 s read timeout and retries, prints a banner, and starts a repository check request. One process
runs many sessions (design.md "Scale") and a dead Maxim must not hold exit hostage, so each session owns one
``Logger`` (the object ``Maxim.logger`` returns) with its HTTP bounded: every request times out after
``http_timeout_s``, with one retry while the session runs and none once it closes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from actors.tracer.ops import Op

DEFAULT_MAXIM_BASE_URL = "https://app.getmaxim.ai"


class TraceBackend(Protocol):
    def apply(self, op: Op, t_ns: int) -> None: ...

    def close(self) -> None: ...


FLUSH_INTERVAL_S = 1.0  # a kill -9 loses at most this much of the local trace


class JsonlBackend:
    """The trace structure as JSON lines: ``{"t_ns", "op", "id", "data"}``, one operation per line (mode 0600:
    it holds what the user said). An audio attachment is written as its session-time span (``span_t_ns``) and
    size, never its bytes: the journal holds the audio. Lines reach the OS at least every
    ``FLUSH_INTERVAL_S`` (on a write after that long, and from the shell's timer when nothing is written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        self._flushed_at = time.monotonic()

    def apply(self, op: Op, t_ns: int) -> None:
        data = op.data
        if op.kind == "attachment":
            data = {k: v for k, v in data.items() if k != "pcm"}
            data["bytes"] = len(op.data.get("pcm", b""))
            data["span_t_ns"] = [op.data.get("start_t_ns"), op.data.get("end_t_ns")]
        record = {"t_ns": t_ns, "op": op.kind, "id": op.id, "data": data}
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()
        self._flushed_at = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class MaximBackend:
    """Operations as maxim-py logger calls (by entity id, so this holds no per-entity state)."""

    def __init__(self, *, api_key: str, repo_id: str, base_url: str, http_timeout_s: float = 5.0) -> None:
        import httpx
        from maxim.logger import Logger

        self._logger = Logger({"id": repo_id, "auto_flush": True, "flush_interval": 10}, api_key=api_key, base_url=base_url)
        self._api = self._logger.writer.maxim_api
        self._api.connection_pool.client.timeout = httpx.Timeout(http_timeout_s)
        self._api.max_retries = 1
        # attachments go to a signed URL with the SDK's own timeouts (15 s to connect, 60 s to read): bound them
        # like every other request, so a slow store cannot hold the upload workers (or the exit) for minutes
        self._http_timeout_s = http_timeout_s
        self._api.upload_to_signed_url = self._upload  # type: ignore[method-assign]
        self._wall_offset_ns: int | None = None
        self.base_url = base_url

    def _upload(self, url: str, data: bytes, mime_type: str) -> bool:
        import httpx

        response = httpx.put(url, content=data, headers={"Content-Type": mime_type}, timeout=self._http_timeout_s)
        response.raise_for_status()
        return True

    def __repr__(self) -> str:  # never the key
        return f"MaximBackend(base_url={self.base_url!r})"

    def _when(self, t_ns: int) -> datetime:
        if self._wall_offset_ns is None:
            self._wall_offset_ns = time.time_ns() - t_ns
        return datetime.fromtimestamp((self._wall_offset_ns + t_ns) / 1e9, tz=UTC)

    def apply(self, op: Op, t_ns: int) -> None:
        log, d, when = self._logger, op.data, self._when(_start_ns(op.data, t_ns))
        kind = op.kind
        if kind == "session.start":
            log.session({"id": op.id, "name": d.get("name"), "tags": dict(d.get("tags") or {}), "start_timestamp": when})
        elif kind == "session.end":
            log.session_end(op.id)
        elif kind == "trace.start":
            config: dict[str, Any] = {"id": op.id, "name": d.get("name"), "tags": dict(d.get("tags") or {}), "start_timestamp": when}
            log.session_add_trace(str(d["session_id"]), config)
        elif kind == "trace.update":
            if "input" in d:
                log.trace_set_input(op.id, str(d["input"]))
            if "output" in d:
                log.trace_set_output(op.id, str(d["output"]))
        elif kind == "trace.event":
            log.trace_add_event(op.id, str(d["event_id"]), str(d["name"]), None, dict(d.get("metadata") or {}))
        elif kind == "trace.error":
            log.trace_add_error(op.id, {"id": d["error_id"], "message": d["message"], "code": d.get("code"), "type": d.get("type"), "name": d.get("name")})
        elif kind == "trace.end":
            log.trace_end(op.id)
        elif kind == "generation.start":
            gen = {k: d[k] for k in ("name", "provider", "model", "messages") if k in d}
            gen.update(id=op.id, model_parameters=dict(d.get("model_parameters") or {}))
            log.trace_add_generation(str(d["trace_id"]), gen)
            if d.get("response_id"):
                log.generation_add_metadata(op.id, {"response_id": d["response_id"]})
        elif kind == "generation.message":
            log.generation_add_message(op.id, {"role": d["role"], "content": d["content"]})
        elif kind == "generation.result":
            if d.get("status") != "completed":
                log.generation_add_metadata(op.id, {"status": d.get("status"), "reason": d.get("reason", "")})
            if d.get("output_items"):  # the response's items one by one (a preamble, calls, the answer)
                log.generation_add_metadata(op.id, {"output_items": list(d["output_items"])})
            log.generation_result(op.id, {**d["result"], "created": int(when.timestamp())})
        elif kind == "generation.error":
            if d.get("output_items"):
                log.generation_add_metadata(op.id, {"output_items": list(d["output_items"])})
            log.generation_error(op.id, {"message": d["message"], "code": d.get("code"), "type": d.get("type")})
        elif kind == "tool_call.start":
            call = {"id": op.id, "name": d["name"], "description": "", "args": d.get("args", ""), "tags": {"call_id": str(d.get("call_id", ""))}, "start_timestamp": when}
            log.trace_add_tool_call(str(d["trace_id"]), call)
        elif kind == "tool_call.result":
            log.tool_call_result(op.id, str(d["result"]))
        elif kind == "tool_call.error":
            log.tool_call_error(op.id, {"message": d["message"], "code": d.get("code"), "type": d.get("type")})
        elif kind == "attachment":
            self._attach(op, when)
        else:
            raise ValueError(f"unknown trace operation {kind!r}")

    def _attach(self, op: Op, when: datetime) -> None:
        """A WAV on the turn's trace: queued here, uploaded by the SDK's upload workers (never on the loop)."""
        from maxim.logger.components.attachment import FileDataAttachment

        from actors.tracer.audio import wav_bytes

        d = op.data
        metadata = {k: d[k] for k in ("start_t_ns", "end_t_ns", "duration_ms", "audio_start_ms", "audio_end_ms",
                                      "played_ms", "received_ms", "interrupted", "response_id") if k in d}  # fmt: skip
        attachment = FileDataAttachment(
            data=wav_bytes(bytes(d["pcm"]), int(d.get("rate", 24000))),
            id=op.id,
            name=str(d["name"]),
            mime_type="audio/wav",
            tags={"role": str(d["role"]), "item_id": str(d["item_id"])},
            metadata=metadata,
            timestamp=int(when.timestamp() * 1000),
        )
        self._logger.trace_add_attachment(str(d["trace_id"]), attachment)

    def close(self) -> None:
        """Push what is queued (one bounded attempt per request) and join the SDK's upload workers."""
        self._api.max_retries = 0
        self._logger.cleanup(is_sync=True)


def _start_ns(data: Mapping[str, Any], t_ns: int) -> int:
    start = data.get("start_t_ns")
    return start if isinstance(start, int) else t_ns


def make_backend(
    environ: Mapping[str, str], journal_path: Path | None, http_timeout_s: float
) -> MaximBackend | JsonlBackend | None:
    """Maxim when ``MAXIM_API_KEY`` and ``MAXIM_LOG_REPO_ID`` are set, else a JSONL file next to the journal
    (``<journal>.trace.jsonl``), else nothing (no journal path)."""
    key = environ.get("MAXIM_API_KEY")
    repo = environ.get("MAXIM_LOG_REPO_ID")
    if key and repo:
        base_url = environ.get("MAXIM_BASE_URL") or DEFAULT_MAXIM_BASE_URL
        return MaximBackend(api_key=key, repo_id=repo, base_url=base_url.rstrip("/"), http_timeout_s=http_timeout_s)
    if journal_path is None:
        return None
    return JsonlBackend(trace_path(journal_path))


def trace_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".trace.jsonl")
