"""Fencing: the pure decision, its timing rule in the configuration, and what it leaves for the exporter."""

from pathlib import Path

import pytest

from postdock_supervisor import healing, metrics
from postdock_supervisor.decide.fence import FenceAct, decide_fence, has_majority
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.health import postgres_health
from postdock_supervisor.model.failover import FailoverRecord
from postdock_supervisor.model.fence import FenceSnapshot
from postdock_supervisor.programs.fence_keeper import still_counts
from postdock_supervisor.render.repmgr import repmgr_conf
from postdock_supervisor.roles import programs_for
from tests.builders import make_settings

THREE = ("pgslave1", "pgslave3")


def snap(reachable: tuple[str, ...], members: tuple[str, ...] = THREE, phase: str = "done", primary: bool = True):
    return FenceSnapshot(phase=phase, primary=primary, members=members, reachable=frozenset(reachable))


def test_a_primary_that_reaches_one_of_two_standbys_keeps_its_majority() -> None:
    decision = decide_fence(snap(("pgslave3",)), last_majority=0.0, fence_timeout=5, now=100.0)
    assert decision.action is FenceAct.NOTHING
    assert decision.reason == "primary with a majority: 2 of 3 nodes reachable (pgslave1 not)"


def test_a_primary_alone_waits_out_fence_timeout_minus_its_loop_slack_then_fences() -> None:
    early = decide_fence(snap(()), last_majority=100.0, fence_timeout=5, now=102.4)
    assert early.action is FenceAct.NOTHING
    assert early.reason == "no majority for 2.4s (1 of 3 nodes reachable (pgslave1,pgslave3 not)): fencing at 2.5s"
    due = decide_fence(snap(()), last_majority=100.0, fence_timeout=5, now=102.5)
    assert due.action is FenceAct.FENCE
    assert due.reason.startswith("no majority for 2.5s (1 of 3 nodes reachable (pgslave1,pgslave3 not)): fencing")


def test_a_standby_or_a_node_still_starting_is_never_fenced() -> None:
    for s in (snap((), primary=False), snap((), phase="rejoin")):
        assert decide_fence(s, last_majority=0.0, fence_timeout=5, now=1000.0).action is FenceAct.NOTHING


def test_a_fenced_node_rejoins_once_it_sees_a_majority_again() -> None:
    waiting = decide_fence(snap((), phase="fenced", primary=False), 0.0, 5, 1000.0)
    assert (waiting.action, waiting.reason) == (
        FenceAct.NOTHING,
        "fenced: 1 of 3 nodes reachable (pgslave1,pgslave3 not), waiting for a majority",
    )
    back = decide_fence(snap(("pgslave1",), phase="fenced", primary=False), 0.0, 5, 1000.0)
    assert back.action is FenceAct.REJOIN
    assert (
        back.reason == "fenced, and now 2 of 3 nodes reachable (pgslave3 not): running the start-up decision to rejoin"
    )


@pytest.mark.parametrize(
    ("members", "reachable", "majority"),
    [
        ((), (), True),  # the only registered node
        (("b",), (), False),  # two nodes: the primary alone is no majority
        (("b",), ("b",), True),
        (("b", "c", "d", "e"), ("b", "c"), True),  # 3 of 5
        (("b", "c", "d", "e"), ("b",), False),  # 2 of 5
        (("b", "c"), ("x",), False),  # an answer from a non-member counts for nothing
    ],
)
def test_majority_is_strict_over_this_node_and_its_registered_members(members, reachable, majority) -> None:
    assert has_majority(snap(reachable, members)) is majority


def test_the_fence_clock_runs_only_while_a_settled_primary_lacks_a_majority() -> None:
    assert not still_counts(snap(()))
    assert still_counts(snap(("pgslave1",)))
    assert still_counts(snap((), primary=False))
    assert still_counts(snap((), phase="fenced", primary=False))


def test_with_the_lease_repmgrd_detects_in_seconds_and_the_validation_command_waits_for_proof() -> None:
    settings = make_settings()
    pg = settings.postgres
    assert pg is not None
    assert (pg.lease_timeout, pg.reconnect_attempts, pg.reconnect_interval) == (2.0, 0, 1)
    conf = repmgr_conf(settings)
    assert "failover_validation_command='/usr/local/bin/postdock node approve-promotion'" in conf
    assert "lease_keeper" in [p.name for p in programs_for(settings)]


def test_without_the_lease_repmgr_timings_that_could_promote_before_the_fence_are_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(LEASE_TIMEOUT="0")
    assert str(raised.value) == (
        "RECONNECT_ATTEMPTS: found 0 (x RECONNECT_INTERVAL 1s: a promotion after 0s); expected "
        "(RECONNECT_ATTEMPTS - 1) x RECONNECT_INTERVAL of at least FENCE_TIMEOUT 5s + 5s, so no standby "
        "is promoted before an isolated primary has fenced itself (LEASE_TIMEOUT=0: no lease)"
    )
    old = make_settings(LEASE_TIMEOUT="0", RECONNECT_ATTEMPTS="11")
    assert "failover_validation_command" not in repmgr_conf(old)
    assert "lease_keeper" not in [p.name for p in programs_for(old)]


@pytest.mark.parametrize("raw", ["0.5", "31", "two", "-1"])
def test_a_malformed_lease_timeout_is_one_line(raw: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(LEASE_TIMEOUT=raw)
    assert str(raised.value) == (
        f"LEASE_TIMEOUT: found '{raw}'; expected 0 (off) or seconds from 1 to 30, decimals allowed (e.g. 2 or 1.5)"
    )


def test_fast_repmgr_timings_are_allowed_with_fencing_off_or_without_partners() -> None:
    assert make_settings(RECONNECT_ATTEMPTS="2", FENCE_TIMEOUT="0").postgres is not None
    single = make_settings(RECONNECT_ATTEMPTS="2", PARTNER_NODES="pgmaster")
    assert not any(p.name == "fence_keeper" for p in programs_for(single))


def test_a_fence_timeout_below_three_seconds_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^FENCE_TIMEOUT: found '2'; expected 0 \(off\) or a whole number"):
        make_settings(FENCE_TIMEOUT="2")


def test_the_fence_keeper_runs_on_first_level_nodes_when_fencing_is_on() -> None:
    assert "fence_keeper" in [p.name for p in programs_for(make_settings())]
    off = make_settings(FENCE_TIMEOUT="0", RECONNECT_ATTEMPTS="2")
    assert "fence_keeper" not in [p.name for p in programs_for(off)]


def test_a_fenced_node_is_unhealthy_with_the_reason() -> None:
    health = postgres_health({"postgres": "STOPPED", "repmgrd": "STOPPED"}, "fenced", "no majority for 3.1s")
    assert (health.ok, health.reason) == (False, "fenced: no majority for 3.1s")


def test_healing_decisions_are_counted_per_program_and_exported(tmp_path: Path) -> None:
    healing.record("fence_keeper", "fence", "no majority", now=10.0, directory=tmp_path)
    healing.record("fence_keeper", "fence", "no majority", now=20.0, directory=tmp_path)
    healing.record("crash_guard", "rerun-bootstrap", "postgres exited", now=30.0, directory=tmp_path)
    healing.write_failover(FailoverRecord(100.0, 110.0, approved_at=111.0, promoted_at=113.0), directory=tmp_path)
    healing.record_released(100.0, directory=tmp_path)  # an earlier hold let through: not this failover's
    assert healing.read_failover(tmp_path) == FailoverRecord(100.0, 110.0, 111.0, 0.0, 113.0)
    healing.record_released(112.5, directory=tmp_path)
    found = healing.read_all(tmp_path)
    assert found["fence_keeper"]["counts"] == {"fence": 2}
    assert found["fence_keeper"]["last"] == {"action": "fence", "reason": "no majority", "time": 20.0}
    exported = metrics.healing_metrics("node1", "fenced", found, healing.read_failover(tmp_path))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in exported for s in m.samples}
    assert samples[("postdock_fenced", (("node", "node1"),))] == 1.0
    key = (("action", "fence"), ("node", "node1"), ("program", "fence_keeper"))
    assert samples[("postdock_healing_decisions_total", key)] == 2.0
    assert samples[("postdock_last_failover_timestamp_seconds", (("node", "node1"),))] == 112.5
    assert samples[("postdock_last_failover_duration_seconds", (("node", "node1"),))] == 12.5
    phase = {dict(k)["phase"]: v for (name, k), v in samples.items() if name == "postdock_last_failover_phase_seconds"}
    assert phase == {"detect": 10.0, "lease": 1.0, "promote": 1.5}
