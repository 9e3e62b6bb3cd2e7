"""[program:conf_watch]: pyinotify on the mounted configuration directory. Each change becomes a
capture-mode message, so reactions go through the listeners like every other event."""

import json
import logging
import sys
from pathlib import Path

import pyinotify

from postdock_supervisor.events import protocol

logger = logging.getLogger(__name__)

# Kubernetes swaps a ConfigMap in by renaming a symlink: moves and creations count, not only writes.
MASK = pyinotify.IN_CLOSE_WRITE | pyinotify.IN_MOVED_TO | pyinotify.IN_CREATE | pyinotify.IN_DELETE


class _Handler(pyinotify.ProcessEvent):  # type: ignore[misc]
    def process_default(self, event: pyinotify.Event) -> None:
        message = json.dumps({"kind": "conf-changed", "path": event.pathname, "event": event.maskname})
        protocol.send(message, sys.stdout)
        sys.stdout.flush()


def watch(directory: str) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    manager = pyinotify.WatchManager()
    manager.add_watch(directory, MASK, rec=True, auto_add=True)
    logger.info("watching %s for configuration changes", directory)
    pyinotify.Notifier(manager, _Handler()).loop()
