"""Typed events parsed from supervisord's headers and payload (stdlib only: a leaf module)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessStateEvent:
    state: str  # EXITED, FATAL, RUNNING, STOPPED, ...
    name: str
    group: str
    from_state: str
    expected: bool
    pid: int


@dataclass(frozen=True)
class TickEvent:
    when: int


@dataclass(frozen=True)
class CommunicationEvent:
    """Something a program wrote in capture mode (PROCESS_COMMUNICATION_STDOUT)."""

    process_name: str
    data: str


@dataclass(frozen=True)
class OtherEvent:
    name: str


Event = ProcessStateEvent | TickEvent | CommunicationEvent | OtherEvent


def _fields(text: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in text.split() if ":" in token)


def parse_event(headers: dict[str, str], payload: str) -> Event:
    name = headers.get("eventname", "")
    if name.startswith("PROCESS_STATE_"):
        first_line = payload.split("\n", 1)[0]
        body = _fields(first_line)
        return ProcessStateEvent(
            state=name.removeprefix("PROCESS_STATE_"),
            name=body.get("processname", ""),
            group=body.get("groupname", ""),
            from_state=body.get("from_state", ""),
            expected=body.get("expected", "1") == "1",
            pid=int(body.get("pid", "0") or 0),
        )
    if name == "PROCESS_COMMUNICATION_STDOUT":
        header, _, data = payload.partition("\n")
        return CommunicationEvent(process_name=_fields(header).get("processname", ""), data=data)
    if name.startswith("TICK_"):
        return TickEvent(when=int(_fields(payload).get("when", "0") or 0))
    return OtherEvent(name)
