"""A mounted configuration changed: reload (pure)."""

import json
from dataclasses import dataclass

from postdock_supervisor.events.model import CommunicationEvent, Event


@dataclass(frozen=True)
class ReloadDecision:
    reload: bool
    reason: str


def decide_reload(event: Event, postgres_state: str) -> ReloadDecision:
    if not isinstance(event, CommunicationEvent) or event.process_name != "conf_watch":
        return ReloadDecision(False, "not a configuration event")
    try:
        message = json.loads(event.data)
    except ValueError:
        return ReloadDecision(False, "unreadable message from conf_watch")
    if message.get("kind") != "conf-changed":
        return ReloadDecision(False, "not a configuration change")
    if postgres_state != "RUNNING":
        return ReloadDecision(
            False,
            f"{message.get('path')} changed; postgres is {postgres_state.lower()}: it reads the file when it starts",
        )
    return ReloadDecision(True, f"{message.get('path')} changed ({message.get('event')}): reloading postgres")
