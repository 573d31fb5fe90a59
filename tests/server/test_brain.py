"""The offline brain: which tool it picks from the words, and the arguments it reads by the tool's JSON schema
(one test per kind of argument: place, enum, number, time, missing required), and saying it does not know."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.server.arguments import fill_arguments, place, time_phrase
from pipeline.server.brain import CallTool, Say, Turn, decide, tool_arguments
from pipeline.server.words import canonical, numbers, word_errors, words

# The three tools of the seed program, as its session.update declares them.
GET_WEATHER: dict[str, Any] = {
    "type": "function", "name": "get_weather", "description": "Get current weather for a location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "City name, e.g. 'Paris, France'"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
        "required": ["location"]},
}  # fmt: skip
GET_CURRENT_TIME: dict[str, Any] = {
    "type": "function", "name": "get_current_time", "description": "Get the current date and time",
    "parameters": {"type": "object", "properties": {
        "timezone": {"type": "string", "description": "Timezone, e.g. 'UTC', 'America/New_York'. Defaults to local."}},
        "required": []},
}  # fmt: skip
SET_REMINDER: dict[str, Any] = {
    "type": "function", "name": "set_reminder", "description": "Set a reminder for the user",
    "parameters": {"type": "object", "properties": {
        "message": {"type": "string", "description": "Reminder message"},
        "time": {"type": "string", "description": "When to remind, e.g. 'in 5 minutes'"}},
        "required": ["message", "time"]},
}  # fmt: skip
SEED_TOOLS = [GET_WEATHER, GET_CURRENT_TIME, SET_REMINDER]

SEND_MONEY: dict[str, Any] = {
    "type": "function", "name": "transfer_funds", "description": "Send money to one of the user's contacts",
    "parameters": {"type": "object", "properties": {
        "recipient": {"type": "string", "description": "who gets the money"},
        "amount": {"type": "number", "description": "how much, in dollars", "minimum": 0.01},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]}},
        "required": ["recipient", "amount"]},
}  # fmt: skip
BOOK_TABLE: dict[str, Any] = {
    "type": "function", "name": "book_table", "description": "Reserve a table at a restaurant",
    "parameters": {"type": "object", "properties": {
        "party_size": {"type": "integer", "description": "number of people", "minimum": 1, "maximum": 20},
        "time": {"type": "string"},
        "seating": {"type": "string", "enum": ["indoor", "outdoor", "bar"]}},
        "required": ["party_size", "time"]},
}  # fmt: skip


def user(text: str) -> Turn:
    return Turn(kind="message", role="user", text=text)


def assistant(text: str) -> Turn:
    return Turn(kind="message", role="assistant", text=text)


def call(text: str, tools: list[dict[str, Any]] = SEED_TOOLS) -> CallTool:
    decision = decide([user(text)], tools, "auto")
    assert isinstance(decision, CallTool), (text, decision)
    return decision


# --- places ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "where"),
    [
        ("What is the weather in Paris today?", "Paris"),
        ("What is the weather like in Berlin?", "Berlin"),
        ("How hot is it in New York right now?", "New York"),
        ("will it rain in london tomorrow", "London"),  # typed or lowercased: still a place
        ("Tell me the weather for San Francisco in fahrenheit.", "San Francisco"),
    ],
)
def test_a_place_parameter_gets_the_place(heard: str, where: str) -> None:
    decision = call(heard)
    assert decision.name == "get_weather" and decision.arguments["location"] == where


def test_a_time_zone_parameter_gets_the_zone_of_a_known_city_and_nothing_when_no_place_is_said() -> None:
    assert call("What time is it in Tokyo?") == CallTool("get_current_time", {"timezone": "Asia/Tokyo"})
    assert call("What time is it?") == CallTool("get_current_time", {})  # optional, not said: left out
    assert call("what time is it in UTC") == CallTool("get_current_time", {"timezone": "UTC"})


def test_place_skips_times_units_and_enum_values() -> None:
    assert place("remind me in five minutes") is None
    assert place("in fahrenheit please, for Madrid", exclude=["fahrenheit"]) == "Madrid"
    assert place("at six") is None


# --- enums -----------------------------------------------------------------------------------------------


def test_an_enum_gets_the_value_named_and_is_left_out_when_none_is() -> None:
    assert call("What's the weather in Rome in Fahrenheit?").arguments == {"location": "Rome", "unit": "fahrenheit"}
    assert call("weather in Oslo in celsius please").arguments == {"location": "Oslo", "unit": "celsius"}
    assert call("What is the weather in Oslo?").arguments == {"location": "Oslo"}
    booked = call("Book a table for two at 8 on the outdoor terrace.", [BOOK_TABLE])
    assert booked.arguments == {"party_size": 2, "time": "at 8", "seating": "outdoor"}
    assert fill_arguments(SEND_MONEY, "send 20 euros to Anna").arguments["currency"] == "EUR"


# --- numbers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "amount"),
    [
        ("Send fifty dollars to my brother.", 50),
        ("Send $50 to my brother.", 50),
        ("send twenty five dollars to my brother", 25),
        ("please send one hundred and twenty dollars to my brother", 120),
        ("send 12.50 dollars to my brother", 12.5),
    ],
)
def test_a_number_is_parsed_from_words_or_digits(heard: str, amount: float) -> None:
    decision = call(heard, [SEND_MONEY])
    # "dollars" also names the currency enum's USD
    assert decision == CallTool("transfer_funds", {"recipient": "my brother", "amount": amount, "currency": "USD"})
    assert isinstance(decision.arguments["amount"], int) == float(amount).is_integer()


def test_the_number_next_to_the_parameter_word_wins_and_bounds_are_kept() -> None:
    # "four" is next to "people" (the description of party_size); "eight" belongs to the time.
    assert call("Book a table for four people at eight.", [BOOK_TABLE]).arguments == {"party_size": 4, "time": "at 8"}
    # 40 is over the schema's maximum of 20: not used, so the required party size is asked for.
    assert decide([user("book a table for forty people at eight")], [BOOK_TABLE], "auto") == Say(
        "To reserve a table at a restaurant, please tell me the party size."
    )


def test_number_words() -> None:
    def said(text: str) -> list[float]:
        return [n.value for n in numbers(words(text))]

    assert said("two thousand and five") == [2005]
    assert said("a hundred people") == [100]
    assert said("ninety nine, or 3.5") == [99, 3.5]
    assert said("five six") == [5, 6]
    assert said("no number here") == []


# --- times -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "message", "when"),
    [
        ("Remind me to call mom in five minutes.", "call mom", "in 5 minutes"),
        ("Remind me to call mom in 5 minutes.", "call mom", "in 5 minutes"),
        ("Set a reminder to buy milk at six.", "buy milk", "at 6"),
        ("remind me to stretch in an hour", "stretch", "in 1 hour"),
        ("Remind me at 7:30 pm to take the pills.", "take the pills", "at 7:30 pm"),
        ("remind me to water the plants tomorrow morning at seven", "water the plants", "tomorrow at 7 am"),
    ],
)
def test_a_time_is_read_as_said_with_numbers_as_digits(heard: str, message: str, when: str) -> None:
    assert call(heard) == CallTool("set_reminder", {"message": message, "time": when})


def test_time_phrases() -> None:
    assert time_phrase("in twenty minutes") is not None
    assert time_phrase("at noon").text == "at noon"  # type: ignore[union-attr]
    assert time_phrase("tonight").text == "tonight"  # type: ignore[union-attr]
    assert time_phrase("what is the weather in Paris") is None


# --- missing required parameters -------------------------------------------------------------------------


def test_a_missing_required_parameter_is_asked_for_not_invented() -> None:
    asked = decide([user("What is the weather like today?")], SEED_TOOLS, "auto")
    assert asked == Say("To get current weather for a location, please tell me which place.")
    # the answer is read together with the request
    answered = decide([user("What is the weather like today?"), asked and assistant(asked.text), user("New York.")], SEED_TOOLS, "auto")  # type: ignore[union-attr]
    assert answered == CallTool("get_weather", {"location": "New York"})


def test_both_reminder_fields_missing_then_given_in_one_answer() -> None:
    asked = decide([user("Set a reminder.")], SEED_TOOLS, "auto")
    assert asked == Say("To set a reminder for the user, please tell me what it should say and when.")
    answered = decide([user("Set a reminder."), assistant(asked.text), user("Buy milk at six.")], SEED_TOOLS, "auto")  # type: ignore[union-attr]
    assert answered == CallTool("set_reminder", {"message": "buy milk", "time": "at 6"})
    only_time = decide([user("remind me to buy milk")], SEED_TOOLS, "auto")
    assert only_time == Say("To set a reminder for the user, please tell me when.")


def test_no_sentence_is_passed_off_as_an_id_or_amount() -> None:
    lookup = {"type": "function", "name": "get_order_status", "description": "Look up the status of an order",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}  # fmt: skip
    assert decide([user("check the status of my last order")], [lookup], "auto") == Say(
        "To look up the status of an order, please tell me the order id."
    )
    assert call("what is the status of order 48213", [lookup]) == CallTool("get_order_status", {"order_id": "48213"})
    assert decide([user("send money to my brother")], [SEND_MONEY], "auto") == Say(
        "To send money to one of the user's contacts, please tell me the amount."
    )


# --- picking a tool --------------------------------------------------------------------------------------


def test_the_tool_is_picked_by_name_and_description_words_not_one_trigger() -> None:
    assert call("Will it rain in Lisbon?").name == "get_weather"  # "rain": a weather word, not in the name
    assert call("What's the date today?").name == "get_current_time"  # "date": from the description
    assert call("Please move my money to my sister, 30 dollars", [GET_WEATHER, SEND_MONEY]).name == "transfer_funds"
    assert call("I'd like to reserve a table for 2 at 9", [SEND_MONEY, BOOK_TABLE]).name == "book_table"


def test_it_says_it_does_not_know_when_no_tool_fits() -> None:
    for request in ("Set a timer for ten minutes.", "What is the capital of France?", "Play some jazz music."):
        assert decide([user(request)], SEED_TOOLS, "auto") == Say("Sorry, I don't know how to help with that.")
    # no tools on offer: a statement is restated, as before
    assert decide([user("the sky is green today")], [], "auto") == Say("You said: the sky is green today.")
    assert decide([user("Thank you, goodbye.")], SEED_TOOLS, "auto") == Say("You are welcome. Goodbye!")


def test_tool_choice_is_honoured() -> None:
    assert decide([user("what time is it")], SEED_TOOLS, "none") == Say("You said: what time is it.")
    forced = decide([user("what time is it in Paris")], SEED_TOOLS, {"type": "function", "name": "get_weather"})
    assert forced == CallTool("get_weather", {"location": "Paris"})
    assert decide([user("hmm")], [GET_CURRENT_TIME], "required") == CallTool("get_current_time", {})


def test_tool_arguments_keeps_its_old_signature() -> None:
    assert tool_arguments(GET_WEATHER, "weather in new york in fahrenheit") == {"location": "New York", "unit": "fahrenheit"}


# --- canonical words (what "heard word for word" and the WER compare) ------------------------------------


def test_canonical_words_ignore_case_punctuation_and_number_spelling() -> None:
    assert canonical("Remind me to call mom in 5 minutes.") == canonical("remind me to call mom in five minutes")
    assert canonical("Send $50 to my brother.") == canonical("send fifty dollars to my brother")
    assert canonical("What's the time? It's 6 p.m.") == ["what", "is", "the", "time", "it", "is", "6", "pm"]
    assert word_errors("what is twenty times three", "What is 20 times free?") == (1, 5)
    assert word_errors("thank you goodbye", "") == (3, 3)


# --- questions about the summary at the root, whatever style it was written in --------------------------------


def system(text: str) -> Turn:
    return Turn(kind="message", role="system", text=text)


def test_the_summary_language_is_told_from_any_style() -> None:
    json_french = '{"topics": ["la météo à Paris"], "facts": ["L\'utilisateur a dit : What is the weather like in Paris?"]}'
    bullets_english = "- Conversation summary.\n- The user said: What is the weather like in Paris?"
    question = user("What language was the summary in?")
    assert decide([system(json_french), question], [], "auto") == Say("The summary was in French.")
    assert decide([system(bullets_english), question], [], "auto") == Say("The summary was in English.")


def test_what_came_first_reads_a_bullet_or_json_summary_as_words() -> None:
    bullets = "- Conversation summary.\n- The user said: Hello there."
    said = decide([system(bullets), user("What did we talk about first?")], [], "auto")
    assert said == Say("The conversation started with this: Conversation summary. The user said: Hello there.")
    as_json = '{"topics": ["greeting"], "facts": ["The user said: Hello there."]}'
    said = decide([system(as_json), user("What did we talk about first?")], [], "auto")
    assert said == Say("The conversation started with this: greeting The user said: Hello there.")
