"""One stderr log format for every entry point (stdout may belong to a protocol)."""

import logging
import sys

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "NOTICE": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "ALERT": logging.CRITICAL,
    "CRIT": logging.CRITICAL,
    "EMERG": logging.CRITICAL,
}


def setup(level: str = "INFO", name: str = "postdock") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {name} %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level.upper(), logging.INFO))
