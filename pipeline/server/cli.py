"""`rtpipe serve`: placeholder until the embedded server lands (issue 3)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the embedded Realtime-protocol server on loopback")
    p.set_defaults(handler=lambda args: 0)
