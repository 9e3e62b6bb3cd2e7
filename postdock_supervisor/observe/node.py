"""This node's report and its partners' reports: the snapshot start-up and role checks decide on."""

import time

from postdock_supervisor import healing
from postdock_supervisor.config import Settings
from postdock_supervisor.model.failover import summary
from postdock_supervisor.model.node import NodeReport
from postdock_supervisor.observe.local import (
    read_bootstrap_state,
    read_data_state,
    read_lease_left,
    read_postgres_state,
)
from postdock_supervisor.observe.peers import verified_reports


def local_report(settings: Settings) -> NodeReport:
    pg = settings.postgres
    assert pg is not None
    phase, reason = read_bootstrap_state()
    postgres = read_postgres_state(pg.port)
    return NodeReport(
        name=pg.node_name,
        host=pg.network_name,
        node_id=pg.node_id,
        priority=pg.priority,
        phase=phase,
        reason=reason,
        data=read_data_state(pg.pgdata),
        postgres=postgres,
        lease_left=read_lease_left(time.time()) if postgres.is_primary else 0.0,
        last_failover=summary(record) if (record := healing.read_failover()) is not None else "",
        writable_at=record.writable_at if record is not None else 0.0,
    )


def observe(settings: Settings) -> tuple[NodeReport, dict[str, NodeReport | None]]:
    pg = settings.postgres
    assert pg is not None
    hosts = [h for h in pg.partner_nodes if h != pg.network_name]
    if pg.is_cascade and pg.primary_host and pg.primary_host != pg.network_name:
        hosts.append(pg.primary_host)
    return local_report(settings), verified_reports(pg, hosts, settings.common.status_port)
