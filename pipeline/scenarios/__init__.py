"""Scenario tests for voice bots (`rtpipe eval`): conversations with expectations, run offline and judged from
their journals.

``format`` reads a scenario file (TOML ``[[scenario]]`` tables) into ``Scenario`` values, checking every key
before anything runs (``ScenarioError``: one line naming the scenario and the key; run settings go through
``RunConfig``'s own validation); ``judge`` reduces a recorded call to what a scenario can expect of it
(``Observed``) and compares (``judge``: pure); ``junit`` writes the verdicts as JUnit XML. The command itself
(``pipeline/commands/eval_cmd.py``) runs the sessions.
"""
