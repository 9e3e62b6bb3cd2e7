"""What the pool keeper does with pgpool's view and the backends' answers: pure.

- A backend pgpool holds as down, which answers as a standby streaming WAL, is attached again
  (pgpool itself never re-attaches without auto_failback, which needs repmgr's node names).
- A writable backend held as down is attached only when pgpool has no primary and no other
  backend is writable: an isolated old primary must never come back.
- pgpool never fails a node over by itself (no health-check failover, no failover on a backend
  error): a stall or a network blip between pgpool and the primary must not cost more than itself.
  Failover is repmgr's decision; pgpool follows it: once exactly one backend answers as writable
  and it is not pgpool's primary, while pgpool's primary is gone or in recovery, it is made
  pgpool's primary (pcp_promote_node). A standby pgpool holds as up that does not answer is
  detached (pgpool connects every session to every up backend, so it would fail them all); pgpool's
  primary is never detached for not answering: it may be frozen, and nothing else can take writes.
- No standby is attached while a backend takes connections but does not answer (frozen): pgpool's
  search for its primary after an attach waits for such a node, and holds every session meanwhile.
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
    promote: int | None = None  # make this backend pgpool's primary (pgpool marks the others down)
    detach: tuple[int, ...] = ()

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


def _follow_primary(
    snap: PoolSnapshot, probes: Mapping[int, BackendProbe], writable: list[int]
) -> tuple[int | None, str]:
    """The backend pgpool must take as primary now (None: none), and why."""
    if len(writable) != 1:
        return None, ""
    new = writable[0]
    current = [n for n in snap.nodes if n.attached and n.role == "primary"]
    if not current or current[0].num == new:
        return None, ""
    old = probes.get(current[0].num)
    if old is not None and old.answers and not old.in_recovery:
        return None, ""
    host = next((n.host for n in snap.nodes if n.num == new), "?")
    was = "does not answer" if old is None or not old.answers else "is in recovery"
    return new, (
        f"backend {new} ({host}) is the only writable one and pgpool's primary {current[0].num} {was}: "
        f"{host} becomes pgpool's primary"
    )


def unthawed(snap: PoolSnapshot, before: frozenset[int]) -> frozenset[int]:
    """Memory: the backends seen frozen that have not answered since. pgpool's own connections to a
    frozen node stay stuck after it drops out of the name service (an engine paused on swarm): its
    streaming-replication check waited 5 minutes for the SSL answer, holding the lock the primary
    search after an attach needs. Only an answer clears a backend."""
    probes = {p.num: p for p in snap.probes}
    return frozenset(
        num
        for num in {*before, *(p.num for p in snap.probes if p.stalled)}
        if num in probes and not probes[num].answers
    )


def decide_pool(
    snap: PoolSnapshot, pool: PgpoolSettings, current_weights: Mapping[int, float], frozen: frozenset[int] = frozenset()
) -> PoolDecision:
    """frozen: backends seen frozen and silent since (unthawed()), treated as frozen still."""
    probes = {p.num: p for p in snap.probes}
    has_primary = any(n.attached and n.role == "primary" for n in snap.nodes)
    writable = [p.num for p in snap.probes if p.answers and not p.in_recovery]
    attach: list[int] = []
    detach: list[int] = []
    held: list[int] = []
    reasons: list[str] = []
    promote, why = _follow_primary(snap, probes, writable)
    # pgpool searches for its primary after every attach, and that search waits for a frozen node
    # (attached or not) until it thaws, holding every session meanwhile (7 s without writes after a
    # 12 s freeze): a standby's attach waits for the thaw, or for the node to be gone. A writable
    # one is attached all the same: without it pgpool takes no writes at all.
    stalled = [n for n in snap.nodes if (p := probes.get(n.num)) is not None and (p.stalled or n.num in frozen)]
    for node in snap.nodes:
        p = probes.get(node.num)
        if node.attached:
            if p is not None and not p.answers and node.role != "primary":
                detach.append(node.num)
                reasons.append(f"detach backend {node.num} ({node.host}): a standby that does not answer")
            continue
        if p is None or not p.answers:
            continue
        if p.in_recovery and p.streaming:
            if stalled:
                held.append(node.num)
                continue
            attach.append(node.num)
            reasons.append(f"attach backend {node.num} ({node.host}): down in pgpool but streaming as a standby")
        elif not p.in_recovery and writable == [node.num] and (not has_primary or promote == node.num):
            attach.append(node.num)
            reasons.append(
                f"attach backend {node.num} ({node.host}): the only writable backend and pgpool has no primary"
                if not has_primary
                else f"attach backend {node.num} ({node.host}): the only writable backend, down in pgpool"
            )
    if held:
        hosts = {n.num: n.host for n in snap.nodes}
        waiting = ", ".join(f"{num} ({hosts[num]})" for num in held)
        silent = ", ".join(f"{n.num} ({n.host})" for n in stalled)
        after = "pgpool's search for a primary after an attach would wait for it"
        if all(probes[n.num].stalled for n in stalled):
            state = "takes connections but does not answer (frozen?)"
        else:  # gone from the name service, say, but pgpool's connections made while it was frozen still wait
            state = "was frozen and has not answered since"
        reasons.append(f"not attaching backend {waiting} yet: backend {silent} {state}, and {after}")
    if promote is not None and promote not in attach:
        reasons.append(why)
    else:
        promote = None  # attached this round; promoted in the next one
    weights = wanted_weights(pool, probes)
    if weights != dict(current_weights):
        changed = ", ".join(
            f"{num}: {current_weights.get(num, 0.0):g} -> {weights[num]:g}"
            for num in sorted(weights)
            if weights[num] != current_weights.get(num)
        )
        reasons.append(f"{pool.consistency_mode.value} mode: read weights {changed}")
    return PoolDecision(tuple(attach), weights, tuple(reasons), promote, tuple(detach))
