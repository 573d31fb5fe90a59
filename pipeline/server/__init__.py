"""The embedded, protocol-faithful OpenAI Realtime (GA) server: `rtpipe serve`, or in-process via `serve`.

Sans-IO core (`connection.py`, `responses.py`, `session.py`, `conversation.py`, `vad.py`, `brain.py`,
`usage.py`, `protocol.py`) and a thin trio shell (`app.py`, `http.py`). See `connection.py` for the theory
of operation of a session.
"""

from pipeline.server.app import ServerHandle, serve
from pipeline.server.config import ServerConfig

__all__ = ["ServerConfig", "ServerHandle", "serve"]
