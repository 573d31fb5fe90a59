"""Seeded id generation in the shapes the real service uses (`event_` + 21 base62, `call_` + 16, ...).

Each prefix draws from its own random stream, derived from (seed, connection number, prefix), so the ids of
items and responses do not depend on how many events happened to be interleaved before them: with `--seed`,
the same client inputs give the same ids. Without a seed the streams come from the OS entropy pool.

An id is never handed out twice in a conversation: a connection names (`avoid`) the prefixes whose ids must be
free and how to tell a taken one; a drawn id already taken (a client re-seeding items whose ids an earlier run
of a server with the same seed made: a `--resume`d call) is skipped and the stream draws again. The skips
depend only on the conversation, so a seeded run stays reproducible for a given history.
"""

from __future__ import annotations

import random
import secrets
import string
from collections.abc import Callable, Iterable
from typing import Final

BASE62: Final = string.digits + string.ascii_letters

_LENGTHS: Final[dict[str, int]] = {"call": 16}
_DEFAULT_LENGTH: Final = 21
_MAX_DRAWS: Final = 10_000  # a taken-predicate that refuses everything is a bug, not a loop


class IdGenerator:
    """Makes `<prefix>_<base62>` ids and obfuscation padding for one connection."""

    def __init__(self, seed: int | None, connection_number: int = 0) -> None:
        self._seed = seed
        self._connection_number = connection_number
        self._streams: dict[str, random.Random] = {}
        self._taken: dict[str, Callable[[str], bool]] = {}

    def avoid(self, prefixes: Iterable[str], taken: Callable[[str], bool]) -> None:
        """From now on, ids with these prefixes for which `taken(id)` holds are skipped (drawn again)."""
        for prefix in prefixes:
            self._taken[prefix] = taken

    def _stream(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            if self._seed is None:
                stream = random.Random(secrets.randbits(128))
            else:
                # str seeds are hashed with sha512, so this is stable across runs and PYTHONHASHSEED.
                stream = random.Random(f"{self._seed}:{self._connection_number}:{name}")
            self._streams[name] = stream
        return stream

    def new(self, prefix: str) -> str:
        """A fresh id such as `item_Cx3...`; `call` ids are 16 characters long, the rest 21. An id `avoid`
        names as taken is skipped: the next one of the same stream is drawn."""
        length = _LENGTHS.get(prefix, _DEFAULT_LENGTH)
        stream = self._stream(prefix)
        taken = self._taken.get(prefix)
        for _ in range(_MAX_DRAWS):
            candidate = prefix + "_" + "".join(stream.choice(BASE62) for _ in range(length))
            if taken is None or not taken(candidate):
                return candidate
        raise RuntimeError(f"no free {prefix!r} id after {_MAX_DRAWS} draws")

    def obfuscation(self) -> str:
        """Random padding for the `obfuscation` field of delta events (0 to 15 characters)."""
        stream = self._stream("obfuscation")
        return "".join(stream.choice(BASE62) for _ in range(stream.randrange(0, 16)))

    def choice(self, name: str, options: list[str]) -> str:
        """A seeded choice among phrasings, on its own stream."""
        return self._stream("choice:" + name).choice(options)
