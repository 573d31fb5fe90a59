"""The embedded, protocol-faithful OpenAI Realtime (GA) server: `rtpipe serve`, or in-process via `serve`.

Sans-IO core (`connection.py`, `responses.py`, `session.py`, `conversation.py`, `vad.py`, `brain.py`,
`reasoning.py`, `transcription.py`, `usage.py`, `protocol.py`) and a thin trio shell (`app.py`, `http.py`). See `connection.py` for the theory
of operation of a session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.server.config import ServerConfig

if TYPE_CHECKING:
    from pipeline.server.app import ServerHandle, serve

__all__ = ["ServerConfig", "ServerHandle", "serve"]


def __getattr__(name: str) -> Any:
    # the shell pulls in trio, hypercorn and the openai types: `rtpipe serve --help` and the config need none
    if name in ("ServerHandle", "serve"):
        from pipeline.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'pipeline.server' has no attribute {name!r}")
