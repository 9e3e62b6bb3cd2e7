"""[eventlistener:sync_keeper] events=TICK_5: on the primary, keep synchronous_standby_names."""

from postdock_supervisor import config, sync
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.events.runner import run_listener


def main() -> None:
    pg = config.from_process().postgres
    assert pg is not None

    def handle(event: Event) -> None:
        if isinstance(event, TickEvent):
            sync.keep(pg)

    run_listener(handle)
