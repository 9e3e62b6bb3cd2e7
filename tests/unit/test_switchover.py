"""Switchover: when it is refused (pure), and the signed control channel's checks."""

import hashlib
import hmac
import json

import pytest

from postdock_supervisor.control import ControlError, Verifier, request_body, sign
from postdock_supervisor.decide.switchover import decide_switchover
from tests.builders import STANDBY_DATA, report

PARTNERS = ("pgmaster", "pgslave1", "pgslave3")
MIB = 1024 * 1024


def cluster(**changes):  # type: ignore[no-untyped-def]
    nodes = {
        "pgmaster": report("pgmaster", 1, running=True, lsn=100 * MIB, timeline=1),
        "pgslave1": report(
            "pgslave1",
            2,
            data=STANDBY_DATA,
            running=True,
            in_recovery=True,
            lsn=100 * MIB,
            upstream="pgmaster",
            streaming=True,
        ),  # fmt: skip
        "pgslave3": report(
            "pgslave3",
            4,
            data=STANDBY_DATA,
            running=True,
            in_recovery=True,
            lsn=99 * MIB,
            upstream="pgmaster",
            streaming=True,
        ),  # fmt: skip
    }
    nodes.update(changes)
    return nodes


def test_a_switchover_to_a_streaming_standby_is_planned_with_the_others_following() -> None:
    plan = decide_switchover(cluster(), PARTNERS, "pgslave3", 16 * MIB)
    assert (plan.ok, plan.primary, plan.target, plan.others) == (True, "pgmaster", "pgslave3", ("pgslave1",))
    assert plan.reason == f"switching over from pgmaster to pgslave3 ({MIB} bytes behind)"


def test_without_a_target_the_most_advanced_standby_is_chosen() -> None:
    assert decide_switchover(cluster(), PARTNERS, None, 16 * MIB).target == "pgslave1"


@pytest.mark.parametrize(
    ("changes", "target", "reason"),
    [
        ({"pgslave3": None}, "pgslave1", "cluster degraded: pgslave3 does not answer"),
        ({"pgslave1": report("pgslave1", 2, phase="rejoin")}, "pgslave3",
         "cluster degraded: pgslave1 (rejoin) not running and settled"),
        ({}, "pgslave2",
         "pgslave2 is not one of PARTNER_NODES (pgmaster,pgslave1,pgslave3): only those may be primary"),
        ({}, "pgmaster", "pgmaster is already the primary"),
        ({"pgslave3": report("pgslave3", 4, running=True, in_recovery=True, upstream="pgslave1", streaming=True)},
         "pgslave3", "pgslave3 does not stream from the primary pgmaster"),
        ({"pgslave1": report("pgslave1", 2, running=True, lsn=5)}, "pgslave3",
         "2 primaries (pgmaster,pgslave1): expected exactly one"),
    ],
)  # fmt: skip
def test_unsafe_switchovers_are_refused_with_the_reason(changes, target, reason) -> None:  # type: ignore[no-untyped-def]
    plan = decide_switchover(cluster(**changes), PARTNERS, target, 16 * MIB)
    assert (plan.ok, plan.reason) == (False, reason)


def test_a_lagging_target_is_refused() -> None:
    plan = decide_switchover(cluster(), PARTNERS, "pgslave3", MIB // 2)
    assert plan.reason == f"pgslave3 is {MIB} bytes behind pgmaster (at most {MIB // 2} allowed)"


def test_a_signed_request_is_accepted_once_and_a_wrong_key_old_or_replayed_one_never() -> None:
    verifier = Verifier(("repl-secret",), ["pgslave1", "node2"])
    body = request_body("hold", {"target": "pgslave1"}, "pgslave1", now=1000.0)
    assert verifier.verify(body, sign("repl-secret", body), now=1010.0) == {
        "action": "hold",
        "args": {"target": "pgslave1"},
    }
    with pytest.raises(ControlError, match="replayed request"):
        verifier.verify(body, sign("repl-secret", body), now=1011.0)
    other = request_body("hold", {}, "pgslave1", now=1000.0)
    with pytest.raises(ControlError, match="bad signature"):
        verifier.verify(other, sign("wrong", other), now=1000.0)
    with pytest.raises(ControlError, match=r"request time 1000.0 is outside \[now - 30s, now \+ 5s\]"):
        verifier.verify(other, sign("repl-secret", other), now=1031.0)
    assert b"repl-secret" not in body


def test_a_request_signed_the_old_way_is_accepted_only_while_legacy_is_allowed() -> None:
    body = json.dumps({"action": "hold", "args": {}, "at": 1000.0, "nonce": "n1"}).encode()
    old_signature = hmac.new(b"repl-secret", body, hashlib.sha256).hexdigest()
    with pytest.raises(ControlError, match="bad signature"):
        Verifier(("repl-secret",), ["pgslave1"]).verify(body, old_signature, now=1000.0)
    upgrading = Verifier(("repl-secret",), ["pgslave1"], legacy_key="repl-secret")
    assert upgrading.verify(body, old_signature, now=1000.0) == {"action": "hold", "args": {}}
    with pytest.raises(ControlError, match="replayed request"):
        upgrading.verify(body, old_signature, now=1001.0)


def test_a_request_is_bound_to_its_node_and_its_nonce_outlives_any_valid_replay() -> None:
    verifier = Verifier(("repl-secret",), ["pgslave1.pg.default.svc", "node2"])
    for_other = request_body("hold", {}, "pgslave3", now=1000.0)
    with pytest.raises(ControlError, match="not this node"):
        verifier.verify(for_other, sign("repl-secret", for_other), now=1000.0)
    short_name = request_body("hold", {}, "pgslave1", now=1000.0)  # pod.service reaches the pod too
    assert verifier.verify(short_name, sign("repl-secret", short_name), now=1000.0)["action"] == "hold"
    ahead = request_body("hold", {}, "node2", now=1004.0)  # 4 s ahead: within the skew
    assert verifier.verify(ahead, sign("repl-secret", ahead), now=1000.0)["action"] == "hold"
    with pytest.raises(ControlError, match="replayed request"):  # 33.9 s after it was first seen
        verifier.verify(ahead, sign("repl-secret", ahead), now=1033.9)
    nan = request_body("hold", {}, "node2", now=float("nan"))
    with pytest.raises(ControlError, match="outside"):
        verifier.verify(nan, sign("repl-secret", nan), now=1000.0)
