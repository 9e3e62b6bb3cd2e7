"""What the pool keeper does with pgpool's view and the backends' answers: pure.

- A backend pgpool holds as down, which answers as a standby streaming WAL, is attached again
  (pgpool itself never re-attaches without auto_failback, which needs repmgr's node names).
- A writable backend held as down is attached only when pgpool has no primary and no other
  backend is writable: an isolated old primary must never come back.
- strict mode: reads go only to the primary and to standbys in its synchronous set (remote_apply),
  so a read through pgpool sees every acknowledged commit; every other standby gets weight 0."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from postdock_supervisor.config import PgpoolSettings
from postdock_supervisor.config.modes import Mode
from postdock_supervisor.model.pool import BackendProbe, PoolSnapshot


@dataclass(frozen=True)
class PoolDecision:
    attach: tuple[int, ...] = ()
    weights: Mapping[int, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or "pool as wanted"


def wanted_weights(pool: PgpoolSettings, probes: Mapping[int, BackendProbe]) -> dict[int, float]:
    configured = {b.num: b.weight for b in pool.backends}
    if pool.consistency_mode is not Mode.STRICT:
        return configured
    writable = [p.num for p in probes.values() if p.answers and not p.in_recovery]
    # Two writable backends: no synchronous set is trusted until one of them is gone.
    primary = probes[writable[0]] if len(writable) == 1 else None
    sync_names = primary.sync_names if primary is not None else frozenset()
    weights = {}
    for num, weight in configured.items():
        p = probes.get(num)
        in_sync = p is not None and p.answers and p.in_recovery and p.streaming and p.application_name in sync_names
        is_primary = primary is not None and num == primary.num
        weights[num] = weight if is_primary or in_sync else 0.0
    return weights


def decide_pool(snap: PoolSnapshot, pool: PgpoolSettings, current_weights: Mapping[int, float]) -> PoolDecision:
    probes = {p.num: p for p in snap.probes}
    has_primary = any(n.attached and n.role == "primary" for n in snap.nodes)
    writable = [p.num for p in snap.probes if p.answers and not p.in_recovery]
    attach: list[int] = []
    reasons: list[str] = []
    for node in snap.nodes:
        if node.attached:
            continue
        p = probes.get(node.num)
        if p is None or not p.answers:
            continue
        if p.in_recovery and p.streaming:
            attach.append(node.num)
            reasons.append(f"attach backend {node.num} ({node.host}): down in pgpool but streaming as a standby")
        elif not p.in_recovery and not has_primary and writable == [node.num]:
            attach.append(node.num)
            reasons.append(
                f"attach backend {node.num} ({node.host}): the only writable backend and pgpool has no primary"
            )
    weights = wanted_weights(pool, probes)
    if weights != dict(current_weights):
        changed = ", ".join(
            f"{num}: {current_weights.get(num, 0.0):g} -> {weights[num]:g}"
            for num in sorted(weights)
            if weights[num] != current_weights.get(num)
        )
        reasons.append(f"{pool.consistency_mode.value} mode: read weights {changed}")
    return PoolDecision(tuple(attach), weights, tuple(reasons))
