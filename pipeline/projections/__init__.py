"""Read models of a journal: pure folds over a recorded call, computed with no I/O beyond reading it.

``recording`` loads a journal (and says what is missing from a damaged one); ``timeline`` is the call as a
person reads it; ``latency`` the per-turn waterfall; ``audio`` both sides as one stereo track; ``export``
the conversation as a document; ``diff`` two calls side by side; ``report`` one self-contained HTML page;
``resummarise`` the summariser re-run on a recorded call. The conversation projection and the cost ledger
(``conversation``, ``ledger``) live here too.
"""
