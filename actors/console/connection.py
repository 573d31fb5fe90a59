"""What the console says about the connection: a call outlives its connection (issue 12).

One line per fact of the reconnect lifecycle (events/connection.py), all under the ``[reconnect]`` label
except where the call ends (``[error    ]``) or a ``--resume`` starts it (``[session  ]``):

* connection lost: why, whether the call goes on, how many responses in flight were lost;
* a recycle starting (the session renewed before the server's time limit: no loss precedes it);
* an attempt that failed (and whether that was the end of trying);
* connected again (which connection, after how many attempts);
* re-seeded: how many items, the summary at the root, the user turns sent as recorded audio, and whether the
  server took all of it (``state restored``) or refused some (named);
* the user audio held while disconnected, now sent (and what the bound dropped); nothing when none was held;
* the old connection retired after a recycle.

Pure functions of the event, like ``format.py``'s; ``format.py`` registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.console.lines import labelled, one_line, plural
from events.base import Event
from events.connection import (
    ConnectionLost,
    ConnectionRetired,
    ConversationReseeded,
    HeldAudioSent,
    Reconnected,
    ReconnectFailed,
    ReconnectRequested,
)

LABEL = "reconnect"


def lost_line(ev: ConnectionLost) -> str:
    code = f" (code {ev.code})" if ev.code is not None and f"code {ev.code}" not in ev.reason else ""
    reason = f"connection lost: {one_line(ev.reason)}{code}"
    if not ev.reconnecting:
        return labelled("error", f"{reason}; not reconnecting")
    lost = f"; {plural(len(ev.interrupted), 'response')} in flight interrupted" if ev.interrupted else ""
    return labelled(LABEL, f"{reason}; reconnecting{lost}")


def requested_line(ev: ReconnectRequested) -> str | None:
    if not ev.recycle:
        return None  # the lost line says "reconnecting"; a failed attempt says that it failed
    return labelled(LABEL, "renewing the session before the server's time limit: opening a new connection")


def failed_line(ev: ReconnectFailed) -> str:
    if ev.fatal:
        return labelled("error", f"reconnect attempt {ev.attempt} failed for good: {one_line(ev.error)}")
    return labelled(LABEL, f"reconnect attempt {ev.attempt} failed: {one_line(ev.error)}")


def reconnected_line(ev: Reconnected) -> str:
    if ev.recycle:
        return labelled(LABEL, f"new connection {ev.connection} open (recycle)")
    return labelled(LABEL, f"connected again (connection {ev.connection}, attempt {ev.attempt})")


def reseeded_line(ev: ConversationReseeded) -> str:
    parts = [f"re-seeded {plural(len(ev.items), 'item')}"]
    if ev.summary_id is not None:
        parts.append(f"summary {ev.summary_id} at the root")
    if ev.audio_items:
        parts.append(f"{plural(len(ev.audio_items), 'user turn')} as recorded audio")
    if ev.restored:
        parts.append("state restored")
    else:
        missing = ", ".join(ev.missing) if ev.missing else "unknown"
        parts.append(f"state NOT restored: {len(ev.missing)} refused ({missing})")
    text = "; ".join(parts)
    if ev.resumed_from is not None:
        return labelled("session", f"resumed from {ev.resumed_from}: {text}")
    return labelled(LABEL, text)


def held_audio_line(ev: HeldAudioSent) -> str | None:
    if ev.sent_ms == 0 and ev.dropped_ms == 0:
        return None  # nothing was held: nothing to say
    dropped = f" (the oldest {ev.dropped_ms} ms did not fit and were dropped)" if ev.dropped_ms else ""
    return labelled(LABEL, f"sent {ev.sent_ms} ms of user audio held while disconnected{dropped}")


def retired_line(ev: ConnectionRetired) -> str:
    return labelled(LABEL, f"old connection {ev.connection} closed ({one_line(ev.reason)})")


CONNECTION_FORMATTERS: dict[type[Event], Callable[[Any], str | None]] = {
    ConnectionLost: lost_line,
    ReconnectRequested: requested_line,
    ReconnectFailed: failed_line,
    Reconnected: reconnected_line,
    ConversationReseeded: reseeded_line,
    HeldAudioSent: held_audio_line,
    ConnectionRetired: retired_line,
}
CONNECTION_EVENTS: frozenset[type[Event]] = frozenset(CONNECTION_FORMATTERS)
