"""The replayable actors of rtpipe sessions, by name (what `rtpipe replay` re-runs).

Edge-only actors (router, console, clock) have no core and nothing to replay: everything they publish is an
edge event, journaled before any core reacts to it.
"""

from __future__ import annotations

from pipeline.replay import Replayable


def replayable_actors() -> dict[str, Replayable]:
    from actors.capture.actor import REPLAYABLE as capture
    from actors.conductor.actor import REPLAYABLE as conductor
    from actors.meter.actor import REPLAYABLE as meter
    from actors.playback.actor import REPLAYABLE as playback
    from actors.summariser.actor import REPLAYABLE as summariser
    from actors.tools.actor import REPLAYABLE as tools
    from actors.transcripts.actor import REPLAYABLE as transcripts
    from actors.uploader.actor import REPLAYABLE as uploader

    actors = [capture, conductor, transcripts, tools, summariser, playback, uploader, meter]
    return {a.name: a for a in actors}
