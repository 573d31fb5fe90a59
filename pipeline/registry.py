"""The replayable actors of rtpipe sessions, by name (what `rtpipe replay` re-runs), and the event families.

Edge-only actors (router, console, clock, and the connection actor of pipeline/link.py) have no core and
nothing to replay: everything they publish is an edge event (``Reconnected``, ``ReconnectFailed``,
``ConnectionRetired`` for the connection actor), journaled before any core reacts to it.

An actor is imported only when asked for (``replayable_actors(names)``): the summariser's module pulls in the
openai SDK (about a second), which a journal without a summariser should not pay for.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from pipeline.replay import Replayable

# name -> module holding its REPLAYABLE, in the order replay reports them
ACTOR_MODULES: dict[str, str] = {
    "capture": "actors.capture.actor",
    "conductor": "actors.conductor.actor",
    "transcripts": "actors.transcripts.actor",
    "tools": "actors.tools.actor",
    "summariser": "actors.summariser.actor",
    "playback": "actors.playback.actor",
    "uploader": "actors.uploader.actor",
    "meter": "actors.meter.actor",
}


def replayable_names() -> list[str]:
    """Every replayable actor's name (nothing imported)."""
    return list(ACTOR_MODULES)


def replayable_actors(names: Iterable[str] | None = None) -> dict[str, Replayable]:
    """The replayable actors named (all when None; unknown names are left out), in report order."""
    wanted = set(ACTOR_MODULES) if names is None else set(names)
    actors: dict[str, Replayable] = {}
    for name, module in ACTOR_MODULES.items():
        if name in wanted:
            replayable = importlib.import_module(module).REPLAYABLE
            assert isinstance(replayable, Replayable) and replayable.name == name
            actors[name] = replayable
    return actors


def register_event_families() -> None:
    """Import every module that registers event tags (the events package and the actors' own families),
    without importing the actors themselves, so any record of a journal can be built into its event."""
    import actors.capture.events  # noqa: F401
    import events  # noqa: F401
