"""Prometheus metrics of every role, built from snapshots by pure functions (tests feed them
snapshots), served by `postdock exporter` from a cache a background thread refreshes: a scrape
never waits on a probe, and the snapshot is at most a few seconds old."""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from prometheus_client import MetricsHandler
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric

from postdock_supervisor import healing, paths
from postdock_supervisor.config import Settings
from postdock_supervisor.httpserve import BoundedServer, server_tls
from postdock_supervisor.model.failover import AFTER, FailoverRecord, phases
from postdock_supervisor.model.pool import PoolNode
from postdock_supervisor.model.tls import Certificate
from postdock_supervisor.observe.local import read_bootstrap_state, read_lease_state
from postdock_supervisor.observe.metrics import ReplicationSnapshot, replication_snapshot
from postdock_supervisor.observe.offsite import read_state as read_offsite
from postdock_supervisor.observe.pool import pool_nodes_or_none, read_keeper_state, read_keeper_weights
from postdock_supervisor.observe.supervisor import read_states
from postdock_supervisor.observe.tls import CertificateFile

logger = logging.getLogger(__name__)

REFRESH = 2.0  # seconds between probes; also the bound on a snapshot's age (plus one probe)
CHECK_EVERY = 30.0  # seconds between `barman check` runs (barman_check_is_ok's bounded age)
BEHIND_EVERY = 10.0  # seconds between reads of barman's slot on the primary (a connection to every node)


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"postdock_{name}", doc, labels=labels)


def program_metrics(node: str, programs: dict[str, str], phase: str) -> list[Metric]:
    states = _gauge("program_running", "1 when the supervisor program is RUNNING.", ["node", "program", "state"])
    for program, state in sorted(programs.items()):
        states.add_metric([node, program, state], 1.0 if state == "RUNNING" else 0.0)
    phase_metric = _gauge("node_phase", "The start-up phase of the node (1 for the current one).", ["node", "phase"])
    if phase:
        phase_metric.add_metric([node, phase], 1.0)
    return [states, phase_metric]


def healing_metrics(
    node: str, phase: str, decisions: dict[str, dict[str, Any]], failover: FailoverRecord | None
) -> list[Metric]:
    fenced = _gauge("fenced", "1 while the node is fenced (a primary that lost the majority stopped postgres).",
                    ["node"])  # fmt: skip
    fenced.add_metric([node], 1.0 if phase == "fenced" else 0.0)
    counts = CounterMetricFamily("postdock_healing_decisions", "Healing decisions that acted, by program and action.",
                                 labels=["node", "program", "action"])  # fmt: skip
    for program, state in sorted(decisions.items()):
        for action, count in sorted(dict(state.get("counts", {})).items()):
            counts.add_metric([node, program, str(action)], float(count))
    metrics: list[Metric] = [fenced, counts]
    if failover is not None and failover.total is not None:
        when = _gauge("last_failover_timestamp_seconds",
                      "When this node took writes after its last promotion by repmgrd.", ["node"])  # fmt: skip
        when.add_metric([node], failover.writable_at)
        took = _gauge("last_failover_duration_seconds",
                      "From the old primary last known alive to this node taking writes (its last promotion).",
                      ["node"])  # fmt: skip
        took.add_metric([node], failover.total)
        phase_gauge = _gauge("last_failover_phase_seconds",
                             "Each phase of this node's last promotion: detect, lease (approvals), promote; "
                             "then rejoin (its old primary streaming here again).",
                             ["node", "phase"])  # fmt: skip
        for name, seconds in [*phases(failover), *phases(failover, AFTER)]:
            phase_gauge.add_metric([node, name], seconds)
        metrics += [when, took, phase_gauge]
    return metrics


def lease_metrics(node: str, primary: bool, state: dict[str, Any]) -> list[Metric]:
    """The primary's lease, from its keeper's last round (nothing on a standby or before a round)."""
    if not primary or not state:
        return []
    held = _gauge("lease_held", "Primary only: 1 while every commit is held for want of a lease.", ["node"])
    held.add_metric([node], 1.0 if state.get("held") else 0.0)
    left = _gauge("lease_seconds_left", "Primary only: how long its lease lasts at the keeper's last round.",
                  ["node"])  # fmt: skip
    left.add_metric([node], float(state.get("left_s") or 0.0))
    return [held, left]


def postgres_metrics(node: str, snap: ReplicationSnapshot) -> list[Metric]:
    up = _gauge("postgres_up", "1 when the local postgres answers SQL.", ["node"])
    up.add_metric([node], 1.0 if snap.up else 0.0)
    metrics: list[Metric] = [up]
    if not snap.up:
        return metrics
    role = _gauge("postgres_role", "1 for the node's current role (primary or standby).", ["node", "role"])
    role.add_metric([node, "primary"], 0.0 if snap.in_recovery else 1.0)
    role.add_metric([node, "standby"], 1.0 if snap.in_recovery else 0.0)
    timeline = _gauge("postgres_timeline", "The timeline the node is on.", ["node"])
    timeline.add_metric([node], float(snap.timeline))
    receiving = _gauge("wal_receiver_streaming", "Standby only: 1 when its WAL receiver streams.", ["node"])
    if snap.in_recovery:
        receiving.add_metric([node], 1.0 if snap.receiver_streaming else 0.0)
    lag_bytes = _gauge("replication_lag_bytes", "Primary only: WAL not yet replayed by each standby.",
                       ["node", "standby", "state"])  # fmt: skip
    lag_seconds = _gauge("replication_lag_seconds", "Primary only: replay lag of each standby.", ["node", "standby"])
    sync = _gauge("replication_synchronous", "Primary only: 1 when the standby is in the synchronous set.",
                  ["node", "standby", "sync_state"])  # fmt: skip
    for s in snap.standbys:
        lag_bytes.add_metric([node, s.name, s.state], float(s.lag_bytes))
        lag_seconds.add_metric([node, s.name], s.lag_seconds)
        sync.add_metric([node, s.name, s.sync_state], 1.0 if s.sync_state in ("sync", "quorum") else 0.0)
    slots = _gauge("replication_slot_retained_bytes", "WAL each replication slot keeps on this node.",
                   ["node", "slot", "active"])  # fmt: skip
    for slot in snap.slots:
        slots.add_metric([node, slot.name, str(slot.active).lower()], float(slot.retained_bytes))
    return [*metrics, role, timeline, receiving, lag_bytes, lag_seconds, sync, slots]


def pgpool_metrics(nodes: tuple[PoolNode, ...] | None, weights: dict[int, float]) -> list[Metric]:
    up = _gauge("pgpool_up", "1 when pgpool answers SQL.", [])
    up.add_metric([], 0.0 if nodes is None else 1.0)
    if nodes is None:
        return [up]
    labels = ["backend", "host"]
    backend_up = _gauge("pgpool_backend_up", "1 when pgpool holds the backend as up.", labels)
    primary = _gauge("pgpool_backend_primary", "1 for the backend pgpool sends writes to.", labels)
    weight = _gauge("pgpool_backend_weight", "Read weight the pool keeper gave the backend.", labels)
    selects = CounterMetricFamily("postdock_pgpool_backend_selects", "SELECTs pgpool sent to the backend.",
                                  labels=labels)  # fmt: skip
    for n in nodes:
        if n.status == "unused":
            continue
        key = [str(n.num), n.host]
        backend_up.add_metric(key, 1.0 if n.status == "up" else 0.0)
        primary.add_metric(key, 1.0 if n.status == "up" and n.role == "primary" else 0.0)
        weight.add_metric(key, weights.get(n.num, 0.0))
        selects.add_metric(key, float(n.select_count))
    return [up, backend_up, primary, weight, selects]


def pgpool_switch_metrics(switch: object) -> list[Metric]:
    """The flight recorder's pgpool phase of the last failover, as the pool keeper timed it."""
    if not isinstance(switch, dict) or not isinstance(switch.get("after_writable"), int | float):
        return []
    lag = _gauge(
        "pgpool_switch_after_writable_seconds",
        "Seconds from the new primary of the last failover taking writes to pgpool sending writes there.",
        ["host"],
    )
    lag.add_metric([str(switch.get("host", ""))], float(switch["after_writable"]))
    return [lag]


def tls_metrics(node: str, cert: Certificate) -> list[Metric]:
    """TLS=1: the validity of the certificate the node serves (tls_keeper renews it at two thirds)."""
    if not cert.readable:
        return []
    start = _gauge("tls_certificate_valid_from_timestamp_seconds", "Start of the served certificate's validity.",
                   ["node"])  # fmt: skip
    end = _gauge("tls_certificate_expiry_timestamp_seconds", "End of the served certificate's validity.", ["node"])
    start.add_metric([node], cert.not_before)
    end.add_metric([node], cert.not_after)
    return [start, end]


class _Cached:
    """Probes in a background thread; collect() only reads the last result."""

    def __init__(self, probe: Callable[[], list[Metric]]) -> None:
        self._probe = probe
        self._metrics: list[Metric] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                fresh = self._probe()
            except Exception:  # noqa: BLE001 - an exporter must keep serving
                logger.exception("probe failed")
                fresh = []
            with self._lock:
                self._metrics = fresh
            time.sleep(REFRESH)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            yield from self._metrics


def _probe_for(settings: Settings) -> Callable[[], list[Metric]]:
    served = CertificateFile(paths.TLS_CERT)

    def certificate(node: str) -> list[Metric]:
        return tls_metrics(node, served.read()) if settings.common.tls else []

    def postgres() -> list[Metric]:
        pg = settings.postgres
        assert pg is not None
        try:
            snap = replication_snapshot(pg)
        except psycopg.Error:
            snap = ReplicationSnapshot(up=False)
        phase, _ = read_bootstrap_state()
        return [
            *postgres_metrics(pg.node_name, snap),
            *program_metrics(pg.node_name, read_states(), phase),
            *healing_metrics(pg.node_name, phase, healing.read_all(), healing.read_failover()),
            *lease_metrics(pg.node_name, snap.up and not snap.in_recovery, read_lease_state()),
            *certificate(pg.node_name),
        ]

    def pgpool() -> list[Metric]:
        pool = settings.pgpool
        assert pool is not None
        nodes = pool_nodes_or_none(pool)
        state = read_keeper_state()
        return [
            *pgpool_metrics(nodes, read_keeper_weights()),
            *pgpool_switch_metrics(state.get("switch")),
            *program_metrics("pgpool", read_states(), ""),
            *certificate("pgpool"),
        ]

    if settings.barman is not None:
        return _barman_probe(settings)
    return postgres if settings.postgres is not None else pgpool


def _barman_probe(settings: Settings) -> Callable[[], list[Metric]]:
    import shutil

    from postdock_supervisor.metrics_barman import BarmanSnapshot, barman_metrics
    from postdock_supervisor.observe.backup import (
        backups,
        diverged_files,
        newest_wal_mtime,
        probe_nodes,
        receiver,
        wal_continuity,
    )
    from postdock_supervisor.observe.backup import check as barman_check
    from postdock_supervisor.observe.drill import read_records

    bm = settings.barman
    assert bm is not None
    check: dict[str, float | bool | None] = {"ok": None, "at": 0.0}
    behind: dict[str, float | int | None] = {"bytes": None, "at": 0.0}

    def probe() -> list[Metric]:
        # `barman check` takes seconds: run it every CHECK_EVERY, in this thread, never in a scrape.
        if time.monotonic() - float(check["at"] or 0.0) >= CHECK_EVERY:
            check["ok"] = barman_check(bm, timeout=60).ok
            check["at"] = time.monotonic()
        usage = shutil.disk_usage(bm.backup_dir)
        wal_time = newest_wal_mtime(bm)
        catalogue = backups(bm)
        drills = read_records(bm)
        if time.monotonic() - float(behind["at"] or 0.0) >= BEHIND_EVERY:
            primaries = [n for n in probe_nodes(bm) if n.answers and n.writable]
            behind["bytes"] = primaries[0].behind_bytes if len(primaries) == 1 else None
            behind["at"] = time.monotonic()
        snap = BarmanSnapshot(
            check_ok=None if check["ok"] is None else bool(check["ok"]),
            backups=catalogue,
            disk_free=usage.free,
            disk_used=usage.used,
            wal_age=None if wal_time is None else max(0.0, time.time() - wal_time),
            receiver_running=receiver(bm).running,
            wal=wal_continuity(bm, catalogue),
            behind_bytes=None if behind["bytes"] is None else int(behind["bytes"]),
            drill=drills[0],
            drill_success=drills[1],
            offsite=read_offsite(bm) if bm.cloud_url else None,
            diverged=len(diverged_files(bm)),
        )
        return [*barman_metrics(bm.server, snap), *program_metrics("barman", read_states(), "")]

    return probe


def serve(settings: Settings) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Cached(_probe_for(settings)))
    tls = server_tls(settings)
    server = BoundedServer(("", settings.common.exporter_port), MetricsHandler.factory(registry), tls)
    logger.info("exporter listening on port %d%s", settings.common.exporter_port, " (TLS)" if tls else "")
    server.serve_forever()
