"""The models rtpipe knows: which realtime models reason, which models have an announced shutdown, and the
defaults.

One table per use (the realtime session, its input transcription, the summariser's chat completions). Every
fact in them comes from the installed ``openai`` SDK's own model notes (the "Deprecated values" docstrings,
and "Only supported by reasoning Realtime models such as gpt-realtime-2"), and each entry names the SDK file
it comes from; ``tests/pipeline/test_models_sdk.py`` reads those docstrings and fails when the tables and the
SDK disagree (an SDK update that deprecates a default fails loudly). The suggested replacements are ours: the
SDK only points to https://developers.openai.com/api/docs/deprecations.

Defaults, and why:

- realtime ``gpt-realtime-2.1``: the current reasoning realtime model (improves on gpt-realtime-2's
  alphanumeric recognition, silence/noise handling and barge-in behaviour; 128k context), no shutdown notice.
- transcription ``gpt-transcribe``: the current transcription model in both the Realtime session's
  ``audio.input.transcription`` and ``/v1/audio/transcriptions``; it takes the ``language`` rtpipe sends
  (and ``keywords``/``languages``). ``gpt-live-transcribe`` and ``gpt-realtime-whisper`` are the
  streaming-transcription-session models (``gpt-realtime-whisper`` takes no prompt and no VAD there).
- summary ``gpt-5.4-mini``: a chat-completions model (the summariser calls ``chat.completions``) with no
  notice, the small tier of the current family; its sibling ``gpt-5.4-nano`` is already deprecated
  (2027-04-01), and ``gpt-4o-mini`` (the seed's) shuts down on 2027-01-14.

``gpt-realtime-1.5`` is not treated as a reasoning model: the SDK names only gpt-realtime-2 as the example,
and the model page (https://developers.openai.com/api/docs/models/gpt-realtime-1.5) calls it an audio model
with a 32k window and 4,096 output tokens and, unlike the 2.x pages, no "reasoning model" / "reasoning token
support". Refusing ``--reasoning-effort`` for it costs one line; sending it to a model that rejects it would
fail the ``session.update`` of a live call.

Import-light on purpose (no ``openai``): the CLI, the server and the cores all read it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

__all__ = [
    "DEFAULT_REALTIME_MODEL",
    "DEFAULT_SUMMARY_MODEL",
    "DEFAULT_TRANSCRIPTION_MODEL",
    "DURATION_BILLED_TRANSCRIPTION",
    "REALTIME_MODELS",
    "REASONING_REALTIME",
    "SUMMARY_MODELS",
    "TRANSCRIPTION_MODELS",
    "ModelInfo",
    "Notice",
    "is_reasoning_realtime",
    "model_info",
    "shutdown_notice",
]

DEFAULT_REALTIME_MODEL = "gpt-realtime-2.1"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-transcribe"
DEFAULT_SUMMARY_MODEL = "gpt-5.4-mini"

# the reasoning realtime models (reasoning.effort, parallel_tool_calls, several items per response)
REASONING_REALTIME = frozenset({"gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-2.1-mini"})
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # a dated snapshot: gpt-realtime-2-2026-05-07

# transcription models billed by audio duration, not tokens: their usage in
# conversation.item.input_audio_transcription.completed is {"type": "duration", "seconds": S}. From the model
# pages (https://developers.openai.com/api/docs/models/<name>, read 2026-12-02): gpt-transcribe "Transcription
# audio duration, per minute"; gpt-live-transcribe and gpt-realtime-whisper "Realtime audio duration, per
# minute"; whisper-1 is per minute too (the embedded server already reports it so). The gpt-4o-*transcribe
# pages list token prices.
DURATION_BILLED_TRANSCRIPTION = frozenset({"gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper", "whisper-1"})

_SDK = "openai/types/"
REALTIME_SOURCE = _SDK + "realtime/realtime_session_create_request.py"  # session.model: values and notes
TRANSCRIPTION_SOURCE = _SDK + "realtime/audio_transcription.py"  # audio.input.transcription.model
CHAT_SOURCE = _SDK + "shared/chat_model.py"  # ChatModel: values and notes


@attrs.frozen
class Notice:
    """An announced shutdown: the date, what to use instead, and the one line a user sees."""

    model: str
    date: datetime.date
    replacement: str
    source: str

    @property
    def text(self) -> str:
        return self.line()

    def line(self, setting: str | None = None) -> str:
        """One line: the model (and the setting that chose it, ``--model``), the date and the replacement."""
        chosen = f" ({setting})" if setting else ""
        return (
            f"model {self.model}{chosen} has an announced shutdown date of {self.date.isoformat()} "
            f"(openai SDK model notes); suggested replacement: {self.replacement}"
        )


@attrs.frozen
class ModelInfo:
    """One row of a table: the model, whether it is a reasoning realtime model, its announced shutdown date
    (None: none announced) and suggested replacement, and the SDK file the facts come from."""

    name: str
    reasoning: bool = False
    shutdown: datetime.date | None = None
    replacement: str | None = None
    source: str = ""

    @property
    def notice(self) -> Notice | None:
        if self.shutdown is None or self.replacement is None:
            return None
        return Notice(model=self.name, date=self.shutdown, replacement=self.replacement, source=self.source)


def _table(
    source: str,
    current: Iterable[str],
    retiring: Iterable[tuple[str, str, Iterable[str]]],
) -> Mapping[str, ModelInfo]:
    """``current``: names without a notice; ``retiring``: (ISO date, replacement, names) groups, as the SDK's
    "Deprecated values" docstring groups them."""
    rows = {name: ModelInfo(name, reasoning=name in REASONING_REALTIME, source=source) for name in current}
    for date, replacement, names in retiring:
        day = datetime.date.fromisoformat(date)
        for name in names:
            rows[name] = ModelInfo(name, shutdown=day, replacement=replacement, source=source)
    return MappingProxyType(rows)


REALTIME_MODELS = _table(
    REALTIME_SOURCE,
    [
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-2",
        "gpt-realtime-1.5",
        "gpt-realtime-mini-2025-10-06",  # no notice in the SDK (its -2025-12-15 sibling has one)
        "gpt-4o-realtime-preview",
        "gpt-4o-realtime-preview-2024-10-01",
        "gpt-4o-realtime-preview-2024-12-17",
        "gpt-4o-realtime-preview-2025-06-03",
        "gpt-4o-mini-realtime-preview",
        "gpt-4o-mini-realtime-preview-2024-12-17",
        "gpt-audio-1.5",
        "gpt-audio-mini-2025-10-06",
    ],
    [
        ("2027-01-20", "gpt-realtime-2.1", ["gpt-realtime", "gpt-realtime-2025-08-28"]),
        (
            "2027-01-20",
            "gpt-realtime-2.1-mini",
            ["gpt-realtime-mini", "gpt-realtime-mini-2025-12-15", "gpt-audio-mini", "gpt-audio-mini-2025-12-15"],
        ),
    ],
)

TRANSCRIPTION_MODELS = _table(
    TRANSCRIPTION_SOURCE,
    ["gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper"],
    [
        (
            "2027-02-26",
            "gpt-transcribe",
            [
                "whisper-1",
                "gpt-4o-mini-transcribe",
                "gpt-4o-mini-transcribe-2025-12-15",
                "gpt-4o-transcribe",
                "gpt-4o-transcribe-diarize",
            ],
        ),
    ],
)

# chat-completions models for the summariser; the replacement is for that use (a short summary)
SUMMARY_MODELS = _table(
    CHAT_SOURCE,
    [
        "gpt-5.4-mini",
        "gpt-5.4-mini-2026-03-17",
        "gpt-5.4",
        "gpt-5.5",
        "gpt-5.5-2026-04-23",
        "gpt-5.2",
        "gpt-5.2-2025-12-11",
    ],
    [
        ("2027-04-01", "gpt-5.4-mini", ["gpt-5.4-nano", "gpt-5.4-nano-2026-03-17", "gpt-5.1", "gpt-5.1-2025-11-13"]),
        ("2026-08-10", "gpt-5.4-mini", ["gpt-5.3-chat-latest", "gpt-5.2-chat-latest"]),
        (
            "2026-07-23",
            "gpt-5.4-mini",
            [
                "gpt-5.1-codex",
                "gpt-5.1-chat-latest",
                "gpt-5-chat-latest",
                "gpt-4o-search-preview",
                "gpt-4o-mini-search-preview",
                "gpt-4o-search-preview-2025-03-11",
                "gpt-4o-mini-search-preview-2025-03-11",
            ],
        ),
        (
            "2026-12-11",
            "gpt-5.4-mini",
            [
                "gpt-5",
                "gpt-5-mini",
                "gpt-5-nano",
                "gpt-5-2025-08-07",
                "gpt-5-mini-2025-08-07",
                "gpt-5-nano-2025-08-07",
                "o3",
                "o3-2025-04-16",
            ],
        ),
        (
            "2027-01-14",
            "gpt-5.4-mini",
            [
                "gpt-4.1",
                "gpt-4.1-mini",
                "gpt-4.1-2025-04-14",
                "gpt-4.1-mini-2025-04-14",
                "gpt-4o",
                "gpt-4o-2024-11-20",
                "gpt-4o-2024-08-06",
                "gpt-4o-mini",
                "gpt-4o-mini-2024-07-18",
            ],
        ),
        (
            "2026-10-23",
            "gpt-5.4-mini",
            [
                "gpt-4.1-nano",
                "gpt-4.1-nano-2025-04-14",
                "o4-mini",
                "o4-mini-2025-04-16",
                "o3-mini",
                "o3-mini-2025-01-31",
                "o1",
                "o1-2024-12-17",
                "gpt-4o-2024-05-13",
                "gpt-4-turbo",
                "gpt-4-turbo-2024-04-09",
                "gpt-4-1106-preview",
                "gpt-4",
                "gpt-4-0613",
                "gpt-3.5-turbo",
                "gpt-3.5-turbo-0125",
            ],
        ),
        ("2025-07-28", "gpt-5.4-mini", ["o1-preview", "o1-preview-2024-09-12"]),
        ("2025-10-27", "gpt-5.4-mini", ["o1-mini", "o1-mini-2024-09-12"]),
        ("2027-01-20", "gpt-5.4-mini", ["gpt-audio-mini", "gpt-audio-mini-2025-12-15"]),
        (
            "2026-05-07",
            "gpt-5.4-mini",
            [
                "gpt-4o-audio-preview",
                "gpt-4o-audio-preview-2024-12-17",
                "gpt-4o-audio-preview-2025-06-03",
                "gpt-4o-mini-audio-preview",
                "gpt-4o-mini-audio-preview-2024-12-17",
            ],
        ),
        ("2025-10-10", "gpt-5.4-mini", ["gpt-4o-audio-preview-2024-10-01"]),
        ("2026-02-17", "gpt-5.4-mini", ["chatgpt-4o-latest"]),
        ("2026-02-12", "gpt-5.4-mini", ["codex-mini-latest"]),
        ("2026-03-26", "gpt-5.4-mini", ["gpt-4-0125-preview", "gpt-4-turbo-preview", "gpt-4-0314"]),
        ("2024-12-06", "gpt-5.4-mini", ["gpt-4-vision-preview"]),
        ("2025-06-06", "gpt-5.4-mini", ["gpt-4-32k", "gpt-4-32k-0314", "gpt-4-32k-0613"]),
        (
            "2024-09-13",
            "gpt-5.4-mini",
            ["gpt-3.5-turbo-16k", "gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-16k-0613"],
        ),
        ("2026-09-28", "gpt-5.4-mini", ["gpt-3.5-turbo-1106"]),
    ],
)

_TABLES = (REALTIME_MODELS, TRANSCRIPTION_MODELS, SUMMARY_MODELS)


def undated(name: str) -> str:
    """``name`` without a dated snapshot suffix: ``gpt-realtime-2-2026-05-07`` -> ``gpt-realtime-2``."""
    return _SNAPSHOT.sub("", name)


def is_reasoning_realtime(name: str) -> bool:
    """True for gpt-realtime-2, gpt-realtime-2.1, gpt-realtime-2.1-mini and their dated snapshots
    (``gpt-realtime-2.1-2026-06-01``): the models that take ``reasoning`` and ``parallel_tool_calls`` and may
    put several items in one response. Any other name (the seed's ``gpt-realtime``, ``gpt-realtime-1.5``, a
    name we do not know) is not."""
    return undated(name.strip()) in REASONING_REALTIME


def model_info(name: str, table: Mapping[str, ModelInfo] | None = None) -> ModelInfo | None:
    """The row for ``name`` in ``table`` (or in the first table that has it), None when unknown."""
    for rows in (table,) if table is not None else _TABLES:
        if name in rows:
            return rows[name]
    return None


def shutdown_notice(name: str, table: Mapping[str, ModelInfo] | None = None) -> Notice | None:
    """The announced shutdown of ``name`` (looked up in ``table``, or in every table), None when the SDK
    announces none or the name is unknown."""
    info = model_info(name.strip(), table)
    return info.notice if info is not None else None
