"""A mounted configuration changed: reload (pure)."""

import enum
import json
from dataclasses import dataclass

from postdock_supervisor.events.model import CommunicationEvent, Event


class ReloadAct(enum.Enum):
    NOTHING = "nothing"  # not a configuration change
    NOTE = "note"  # a change postgres reads when it starts: only logged
    RELOAD = "reload"


@dataclass(frozen=True)
class ReloadDecision:
    action: ReloadAct
    reason: str


def decide_reload(event: Event, postgres_state: str) -> ReloadDecision:
    if not isinstance(event, CommunicationEvent) or event.process_name != "conf_watch":
        return ReloadDecision(ReloadAct.NOTHING, "not a configuration event")
    try:
        message = json.loads(event.data)
    except ValueError:
        return ReloadDecision(ReloadAct.NOTHING, "unreadable message from conf_watch")
    if message.get("kind") != "conf-changed":
        return ReloadDecision(ReloadAct.NOTHING, "not a configuration change")
    if postgres_state != "RUNNING":
        return ReloadDecision(
            ReloadAct.NOTE,
            f"{message.get('path')} changed; postgres is {postgres_state.lower()}: it reads the file when it starts",
        )
    return ReloadDecision(
        ReloadAct.RELOAD, f"{message.get('path')} changed ({message.get('event')}): reloading postgres"
    )
