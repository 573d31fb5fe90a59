"""The replayable actors of rtpipe sessions, by name (what `rtpipe replay` re-runs)."""

from __future__ import annotations

from pipeline.replay import Replayable


def replayable_actors() -> dict[str, Replayable]:
    from actors.meter.actor import REPLAYABLE as meter

    actors = [meter]
    return {a.name: a for a in actors}
