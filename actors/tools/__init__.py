"""The tools actor: registry, built-in tools, core and shell (see actor.py)."""
