"""Issue 9: `--summary-style` and `--summary-language` change the offline summary.

The requests are the client's own (`summary_prompt` and `transcript_line` of actors/summariser/core.py), sent
with the official openai SDK to `/v1/chat/completions` of a real loopback server.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import trio
from openai import AsyncOpenAI

from actors.summariser.core import summary_prompt
from pipeline.server import ServerHandle
from tests.server.conftest import StartServer

CONVERSATION = "\n".join(
    [
        "user: hello there",
        "assistant: Hello! How can I help you today?",
        "user: what is the weather like in paris",
        'assistant: (called the tool get_weather({"location": "Paris"}))',
        'tool: {"location": "Paris", "temperature": "17°C"}',
        "assistant: The weather in Paris is sunny at 17°C. Anything else?",
        "user: remind me to call Anna at five",
    ]
)
HEADINGS = {"French": "Résumé de la conversation.", "English": "Summary of the conversation so far."}
CONNECTIVES = {
    "French": ("L'utilisateur a dit :", "L'assistant a répondu :"),
    "English": ("The user said:", "The assistant answered:"),
}


def fake_key() -> str:
    return "-".join(["sk", "test", "offline"])  # built at runtime: no committed line looks like a credential


async def summarise(handle: ServerHandle, language: str, style: str, conversation: str = CONVERSATION, *, stream: bool = False) -> str:
    client = AsyncOpenAI(api_key=fake_key(), base_url=handle.base_url, max_retries=0, timeout=10)
    messages: Any = [{"role": "system", "content": summary_prompt(language, style)}, {"role": "user", "content": conversation}]
    try:
        if stream:
            chunks = await client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
        answer = await client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0)
        return answer.choices[0].message.content or ""
    finally:
        await client.close()


def requested_keys(language: str) -> list[str]:
    """The keys the client's JSON prompt asks for, read from the prompt itself."""
    prompt = summary_prompt(language, "json")
    return re.findall(r'"(\w+)"', prompt.split("keys", 1)[1].split(";", 1)[0])


@pytest.mark.parametrize("language", ["French", "English"])
async def test_paragraph(start_server: StartServer, language: str) -> None:
    handle = await start_server()
    with trio.fail_after(20):
        text = await summarise(handle, language, "paragraph")
    assert text.startswith(HEADINGS[language] + " ")
    assert "\n" not in text and "- " not in text and not text.startswith("{")
    assert "Paris is sunny at 17°C" in text and "Anna" in text and "get_weather" not in text


@pytest.mark.parametrize("language", ["French", "English"])
async def test_bullets(start_server: StartServer, language: str) -> None:
    handle = await start_server()
    with trio.fail_after(20):
        text = await summarise(handle, language, "bullets")
        streamed = await summarise(handle, language, "bullets", stream=True)
    lines = text.splitlines()
    assert len(lines) == 6 and all(line.startswith("- ") for line in lines), text
    assert lines[0] == "- " + HEADINGS[language]
    user, assistant = CONNECTIVES[language]
    assert lines[1] == f"- {user} hello there"
    assert lines[4] == f"- {assistant} The weather in Paris is sunny at 17°C."
    assert "get_weather" not in text and "temperature" not in text  # tool lines are left out
    assert streamed == text  # the same summary as server-sent events, line breaks included


@pytest.mark.parametrize("language", ["French", "English"])
async def test_json_has_exactly_the_requested_keys(start_server: StartServer, language: str) -> None:
    handle = await start_server()
    with trio.fail_after(20):
        text = await summarise(handle, language, "json")
    data = json.loads(text)
    keys = requested_keys(language)
    assert keys == ["topics", "facts", "open_requests"]  # what the client asks today
    assert list(data) == keys
    assert all(isinstance(v, list) and all(isinstance(e, str) and e for e in v) for v in data.values())
    assert "what is the weather like in paris" in data["topics"]
    user, assistant = CONNECTIVES[language]
    assert f"{assistant} The weather in Paris is sunny at 17°C." in data["facts"]
    assert f"{user} hello there" in data["facts"]
    asked = "L'utilisateur a demandé :" if language == "French" else "The user asked:"
    assert data["open_requests"] == [f"{asked} remind me to call Anna at five"]  # the only one left unanswered


async def test_json_keys_follow_the_prompt(start_server: StartServer) -> None:
    handle = await start_server()
    client = AsyncOpenAI(api_key=fake_key(), base_url=handle.base_url, max_retries=0, timeout=10)
    prompt = ('Summarise the conversation below in English, as a JSON object with the keys "subject", "decisions" '
              'and "summary"; output only the JSON.')  # fmt: skip
    with trio.fail_after(20):
        answer = await client.chat.completions.create(
            model="m", messages=[{"role": "system", "content": prompt}, {"role": "user", "content": CONVERSATION}]
        )
        await client.close()
    data = json.loads(answer.choices[0].message.content or "")
    assert list(data) == ["subject", "decisions", "summary"]
    assert all(isinstance(v, str) for v in data.values())  # no "list" asked: strings
    assert data["summary"].startswith(HEADINGS["English"]) and "Paris" in data["decisions"]


@pytest.mark.parametrize("style", ["paragraph", "bullets", "json"])
async def test_summaries_of_summaries_neither_nest_nor_grow(start_server: StartServer, style: str) -> None:
    handle = await start_server()
    with trio.fail_after(30):
        first = await summarise(handle, "French", style)
        again = await summarise(handle, "French", style)
        assert again == first  # deterministic
        folded = first
        for turn in range(6):  # the client collapses the previous summary onto one "system:" line
            later = f"system: {' '.join(folded.split())}\nuser: and what about day {turn}\nassistant: Day {turn} is fine."
            folded = await summarise(handle, "French", style, later)
    assert len(folded) < 1500
    if style == "json":
        data = json.loads(folded)
        assert list(data) == requested_keys("French")
        assert "and what about day 5" in data["topics"]
    else:
        assert folded.count(HEADINGS["French"]) == 1
        assert "and what about day 5" in folded
    if style == "bullets":
        assert all(line.startswith("- ") for line in folded.splitlines())
