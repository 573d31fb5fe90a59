"""rtpipe runtime: bus, journal, clock, connection, supervisor, replay, config and CLI."""

__version__ = "0.1.0"
