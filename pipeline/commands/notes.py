"""The ``note:`` lines the read commands print on stderr about a journal (torn, still being written, corrupt
spans), after their one pass over it.

``debug_cmds.load`` prints them as it loads, which needs a pass over the journal of its own (where it ends is
known only once it has been read); the read commands load quietly, feed every read model they need in one
pass, then print the notes here, before their output.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.projections.recording import Recording


def print_notes(recording: Recording) -> None:
    for line in recording.notices():
        print(f"note: {line}", file=sys.stderr)
