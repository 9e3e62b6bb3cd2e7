"""The lease's programs: the agents' desks over real loopback HTTP (signed requests, in parallel),
the lease keeper's rounds with the database as a stand-in, and the promotion approval loop."""

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from postdock_supervisor import healing, paths, proc
from postdock_supervisor.act import lease as act
from postdock_supervisor.decide.lease import Hold
from postdock_supervisor.model.failover import summary
from postdock_supervisor.model.node import NodeReport, PostgresState
from postdock_supervisor.programs import agent, approve, lease_keeper
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.lease_desk import LeaseDesk
from tests.builders import loopback_settings, make_settings, running_primary, running_standby


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def desks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, int], Clock]]:
    """Three agents on loopback, each with its own desk on one shared fake clock: host -> port."""
    monkeypatch.setattr(agent, "local_report", lambda settings: running_primary("pgmaster", 1))
    clock = Clock()
    servers = []
    ports = {}
    for name in ("pgmaster", "pgslave1", "pgslave3"):
        server = agent.make_server(loopback_settings(), None, 0, LeaseDesk(2.0, clock=clock))  # type: ignore[arg-type]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        ports[name] = server.server_address[1]
    yield ports, clock
    for server in servers:
        server.shutdown()
        server.server_close()


def ask(ports: dict[str, int], action: str, node: str, epoch: str = "", key: str = "repl-secret") -> dict[str, bool]:
    answers = {}
    for host, port in ports.items():
        answer = act.Asker(port, key, 2.0).ask(action, node, ["127.0.0.1"], epoch)
        if answer:
            answers[host] = answer["127.0.0.1"][0]
    return answers


def test_desks_grant_one_primary_approve_a_candidate_only_after_its_lapse_and_take_releases(
    desks: tuple[dict[str, int], Clock],
) -> None:
    ports, clock = desks
    assert ask(ports, "lease-grant", "pgmaster", "t1") == dict.fromkeys(ports, False)  # just started: quiet
    clock.now += 2.0
    assert ask(ports, "lease-grant", "pgmaster", "t1") == dict.fromkeys(ports, True)
    assert ask(ports, "lease-approve", "pgslave1") == dict.fromkeys(ports, False)
    assert ask(ports, "lease-grant", "pgmaster", "t1", key="guessed") == dict.fromkeys(ports, False)  # unsigned
    clock.now += 1.0
    assert ask(ports, "lease-release", "pgmaster", "t0") == dict.fromkeys(ports, True)  # another term's: kept
    assert ask(ports, "lease-approve", "pgslave1") == dict.fromkeys(ports, False)
    ask(ports, "lease-release", "pgmaster", "t1")
    assert ask(ports, "lease-approve", "pgslave1") == dict.fromkeys(ports, True)
    assert ask(ports, "lease-grant", "pgmaster", "t2") == dict.fromkeys(ports, False)  # approved another


def test_an_approval_goes_out_only_once_the_wal_receiver_moved_and_a_failed_move_is_a_refusal() -> None:
    clock = Clock()
    moves: list[str] = []
    failing = {"why": "the WAL receiver still streams from pgmaster 2s after the reload"}

    def stream_from(host: str, catch_up: bool) -> str:
        moves.append(host)
        return failing["why"]

    desk = LeaseDesk(2.0, "pgslave3", stream_from, clock)
    clock.now += 2.0  # past the quiet start
    refused = desk.handle("lease-approve", {"node": "pgslave1"})
    assert refused == {
        "ok": False,
        "reason": "the WAL receiver still streams from pgmaster 2s after the reload: not approving pgslave1",
    }
    assert (moves, desk.state.approved) == (["pgslave1"], "")
    failing["why"] = ""
    assert desk.handle("lease-approve", {"node": "pgslave1"})["ok"] is True
    assert (moves, desk.state.moved_for) == (["pgslave1", "pgslave1"], "pgslave1")
    # The approval lapsed without a promotion; moving back fails once: the grant stands, the move is retried.
    clock.now += 2.0
    failing["why"] = "local postgres did not answer"
    assert desk.handle("lease-grant", {"node": "pgmaster", "epoch": "e"})["ok"] is True
    assert desk.state.moved_for == "pgslave1"
    failing["why"] = ""
    assert desk.handle("lease-grant", {"node": "pgmaster", "epoch": "e"})["ok"] is True
    assert (moves[-2:], desk.state.moved_for) == (["pgmaster", "pgmaster"], "")


def test_a_catch_up_streams_from_the_candidate_without_a_slot_once_no_lease_lives_and_a_grant_moves_back() -> None:
    clock = Clock()
    moves: list[tuple[str, bool]] = []

    def stream_from(host: str, catch_up: bool) -> str:
        moves.append((host, catch_up))
        return ""

    desk = LeaseDesk(2.0, "pgslave3", stream_from, clock)
    clock.now += 2.0
    assert desk.handle("lease-grant", {"node": "pgmaster", "epoch": "e"})["ok"] is True
    clock.now += 1.0
    assert desk.handle("lease-catch-up", {"node": "pgslave1"}) == {
        "ok": False,
        "reason": "pgmaster may still hold a lease (1.0s): not catching up from pgslave1",
    }
    assert moves == []
    clock.now += 1.0
    assert desk.handle("lease-catch-up", {"node": "pgslave1"}) == {
        "ok": True,
        "reason": "no live lease: fetching WAL from pgslave1",
    }
    assert (moves, desk.state.moved_for, desk.state.approved) == ([("pgslave1", True)], "pgslave1", "")
    # Catching up approves nothing: the old primary may still win its lease back, and is streamed from again.
    assert desk.handle("lease-grant", {"node": "pgmaster", "epoch": "e2"})["ok"] is True
    assert (moves[-1], desk.state.moved_for) == (("pgmaster", False), "")


def test_an_agent_that_does_not_answer_counts_as_no_grant_within_the_timeout() -> None:
    answers = act.Asker(9, "repl-secret", 0.3).ask("lease-grant", "pgmaster", ["127.0.0.1"], "t")
    assert answers["127.0.0.1"][0] is False


def test_a_round_that_has_its_majority_does_not_wait_for_a_partner_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropped packets: the cut-off node answers nothing until the timeout; with `enough` the round ends
    as soon as the others said yes (its request is left running, never counted later)."""
    released = threading.Event()

    def post(host: str, *args: Any) -> tuple[bool, str]:
        if host == "pgmaster":
            released.wait(timeout=30)
            return True, "too late"
        return True, "granted"

    monkeypatch.setattr(act, "_post", post)
    asker = act.Asker(8008, "repl-secret", 30.0)
    answers = asker.ask("lease-approve", "pgslave3", ["pgmaster", "pgslave1", "pgslave3"], enough=2)
    try:
        assert answers == {"pgslave1": (True, "granted"), "pgslave3": (True, "granted")}
        assert not asker._running["pgmaster"].done()  # returned without waiting for it
        again = asker.ask("lease-approve", "pgslave3", ["pgmaster", "pgslave1", "pgslave3"], enough=2)
        assert "pgmaster" not in again  # still running: not asked twice, and its late answer not counted
    finally:
        released.set()


class Reader:
    def __init__(self, primary: bool, members: tuple[str, ...], written: list[str] | None = None) -> None:
        self.answer = (primary, members)
        self.written = written if written is not None else []

    def read(self) -> tuple[bool, tuple[str, ...]]:
        return self.answer

    def setting(self, name: str) -> str:
        return self.written[-1] if self.written else ""


class Granting:
    def __init__(self, granted: set[str]) -> None:
        self.granted = granted
        self.asked: list[tuple[str, str, tuple[str, ...]]] = []

    def ask(self, action: str, node: str, hosts: Any, epoch: str = "", enough: int = 0) -> dict[str, tuple[bool, str]]:
        self.asked.append((action, node, tuple(hosts)))
        return {h: (h in self.granted, "") for h in hosts}


@pytest.fixture
def keeper(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[lease_keeper.LeaseKeeper, list[str]]]:
    monkeypatch.setattr(paths, "LEASE_STATE", tmp_path / "lease.json")
    monkeypatch.setattr(lease_keeper, "read_crashed_at", lambda: None)
    written: list[str] = []
    monkeypatch.setattr(act, "set_standby_names", lambda pg, value: written.append(value))
    monkeypatch.setattr(lease_keeper, "wanted_standby_names", lambda pg: "")
    pg = make_settings().postgres
    assert pg is not None
    k = lease_keeper.LeaseKeeper(pg, 8008)
    k.local = Reader(True, ("pgslave1", "pgslave3"), written)  # type: ignore[assignment]
    yield k, written


def test_a_primary_granted_by_a_majority_takes_writes_and_holds_them_when_the_majority_is_gone(
    keeper: tuple[lease_keeper.LeaseKeeper, list[str]],
) -> None:
    k, written = keeper
    granting = Granting({"pgmaster", "pgslave3"})
    k.asker = granting  # type: ignore[assignment]
    first = step(k, 0.0)
    assert first.hold.action is Hold.NOTHING and first.hold.reason.startswith("lease for 1.")
    assert granting.asked[-1] == ("lease-grant", "pgmaster", ("pgmaster", "pgslave1", "pgslave3"))
    k.asker = Granting({"pgmaster"})  # type: ignore[assignment]
    k.until = 0.0  # the lease ran out meanwhile
    cut = step(k, 0.0)
    assert cut.hold.action is Hold.HOLD and written == [act.HOLD_NAME]
    assert "granted by pgmaster" in cut.hold.reason
    k.asker = Granting({"pgmaster", "pgslave1", "pgslave3"})  # type: ignore[assignment]
    back = step(k, 0.0)
    assert back.hold.action is Hold.RELEASE and written == [act.HOLD_NAME, ""]


def test_a_standby_asks_for_nothing_and_holds_nothing(keeper: tuple[lease_keeper.LeaseKeeper, list[str]]) -> None:
    k, written = keeper
    k.local = Reader(False, ("pgslave1", "pgslave3"))  # type: ignore[assignment]
    granting = Granting(set())
    k.asker = granting  # type: ignore[assignment]
    d = step(k, 0.0)
    assert (d.hold.action, d.hold.reason, granting.asked, written) == (Hold.NOTHING, "not a running primary", [], [])


def test_the_candidate_promotes_once_enough_approve_and_never_while_a_primary_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(approve, "LocalReader", lambda pg: Reader(False, ("pgmaster", "pgslave3")))
    monkeypatch.setattr(approve, "PAUSE_S", 0.0)
    rounds = iter([set(), {"pgslave1"}, {"pgslave1", "pgslave3"}])
    answers: list[set[str]] = []

    class Approving(Granting):
        def ask(
            self, action: str, node: str, hosts: Any, epoch: str = "", enough: int = 0
        ) -> dict[str, tuple[bool, str]]:
            answers.append(next(rounds))
            return {h: (h in answers[-1], "pgmaster may still hold a lease") for h in hosts}

    monkeypatch.setattr(approve, "approval_asker", lambda pg, port: Approving(set()))
    monkeypatch.setattr(approve, "fetch_reports", lambda hosts, port, timeout: dict.fromkeys(hosts))
    monkeypatch.setattr(approve, "read_primary_last_alive", lambda pg, now: None)
    monkeypatch.setattr(approve, "local_report", lambda settings: running_standby("pgslave1", 2, "pgmaster"))
    monkeypatch.setattr(approve, "verified_reports", lambda pg, hosts, port, timeout: dict.fromkeys(hosts))
    settings = make_settings(NODE_NAME="node2", CLUSTER_NODE_NETWORK_NAME="pgslave1")
    assert approve.main(settings) == 0
    # repmgrd reads one line of standard output and closes the pipe: a second line would kill the
    # command (found as an election rerun costing 3 s after every kill). Progress goes to stderr.
    seen = capsys.readouterr()
    assert seen.out == "2 of 2 approvals needed (pgslave1,pgslave3): no node holds a lease, promoting pgslave1\n"
    assert seen.err.splitlines()[:3] == [
        "no healthy standby has a higher priority than pgslave1 (100)",
        "0 of 2 approvals needed (none): waiting for the old lease to lapse",
        "1 of 2 approvals needed (pgslave1): waiting for the old lease to lapse",
    ]
    monkeypatch.setattr(
        approve, "fetch_reports", lambda hosts, port, timeout: {h: running_primary(h, 1) for h in hosts}
    )
    rounds = iter([set()])
    assert approve.main(settings) == 1
    assert capsys.readouterr().out == "pgmaster,pgslave3 is a running primary: not promoting pgslave1\n"


def test_the_candidate_defers_once_to_a_preferred_standby_after_it_caught_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(approve, "LocalReader", lambda pg: Reader(False, ("pgmaster", "pgslave3")))
    monkeypatch.setattr(approve, "PAUSE_S", 0.0)
    monkeypatch.setattr(approve, "read_primary_last_alive", lambda pg, now: None)
    me = replace(running_standby("pgslave1", 2, "pgmaster"), postgres=PostgresState(True, True, 1, 0x5000100))
    monkeypatch.setattr(approve, "local_report", lambda settings: me)
    behind = replace(running_standby("pgslave3", 4, "pgmaster"), priority=200)
    lsns = iter([0x5000000, 0x5000000, 0x5000000, 0x5000100])

    def reports(pg: Any, hosts: Any, port: int, timeout: float) -> dict[str, NodeReport | None]:
        lsn = next(lsns)
        return {h: replace(behind, postgres=replace(behind.postgres, lsn=lsn)) for h in hosts if h == "pgslave3"}

    monkeypatch.setattr(approve, "verified_reports", reports)
    asked: list[tuple[str, str, str]] = []
    answers = iter([(False, "pgmaster may still hold a lease (0.3s): not catching up from pgslave1"), (True, "")])

    def ask_one(host: str, port: int, key: str, action: str, node: str, timeout: float) -> tuple[bool, str]:
        asked.append((host, action, node))
        return next(answers)

    monkeypatch.setattr(approve.lease_act, "ask_one", ask_one)
    settings = make_settings(NODE_NAME="node2", CLUSTER_NODE_NETWORK_NAME="pgslave1")
    assert approve.main(settings) == 1
    seen = capsys.readouterr()
    assert seen.out == "deferring to pgslave3, of higher NODE_PRIORITY: the election is rerun\n"
    assert seen.err.splitlines() == [
        "pgslave3 (priority 200 over 100) lacks 256 bytes of WAL pgslave1 holds: it fetches them from pgslave1 first",
        "  pgslave3: pgmaster may still hold a lease (0.3s): not catching up from pgslave1",
        "pgslave3 holds WAL up to 0/5000100 (this node: 0/5000100)",
    ]
    assert asked == [("pgslave3", "lease-catch-up", "pgslave1")] * 2
    record = healing.read_failover()
    assert record is not None and record.deferred_to == "pgslave3"
    shown = (
        f"deferred to pgslave3 (higher NODE_PRIORITY) {record.deferred_at - record.detected_at:.2f}s after the election"
    )
    assert summary(record).endswith(shown) and 0 <= record.deferred_at - record.detected_at < 5
    # Elected again in the rerun (the preferred standby did not win it): promote, never decline for ever.
    lsns = iter([0x5000000])
    monkeypatch.setattr(approve, "approval_asker", lambda pg, port: Granting({"pgslave1", "pgslave3"}))
    monkeypatch.setattr(approve, "fetch_reports", lambda hosts, port, timeout: dict.fromkeys(hosts))
    assert approve.main(settings) == 0
    assert capsys.readouterr().err.startswith(
        "elected again after deferring to pgslave3 in this failover: promoting pgslave1\n"
    )


def test_the_lease_metrics_show_a_primary_holding_its_commits_and_nothing_on_a_standby() -> None:
    from prometheus_client.core import CollectorRegistry
    from prometheus_client.exposition import generate_latest

    from postdock_supervisor.metrics import lease_metrics

    class One:
        def __init__(self, metrics: list[Any]) -> None:
            self.metrics = metrics

        def collect(self) -> Any:
            return iter(self.metrics)

    registry = CollectorRegistry()
    registry.register(One(lease_metrics("node1", True, {"held": True, "left_s": 0.0})))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert 'postdock_lease_held{node="node1"} 1.0' in text
    assert 'postdock_lease_seconds_left{node="node1"} 0.0' in text
    assert lease_metrics("node2", False, {"held": False}) == []


def test_a_primary_starts_with_every_commit_held_whatever_alter_system_wrote_before(tmp_path: Path) -> None:
    auto = tmp_path / "postgresql.auto.conf"
    auto.write_text(
        "# Do not edit this file manually!\nsynchronous_standby_names = 'ANY 1 (\"a\")'\nwork_mem = '8MB'\n"
    )
    act.hold_in_file(str(tmp_path))
    assert auto.read_text().splitlines() == [
        "# Do not edit this file manually!",
        "work_mem = '8MB'",
        f"synchronous_standby_names = '{act.HOLD_NAME}'",
    ]


def test_the_start_up_promotion_needs_the_same_approvals_as_repmgrds(monkeypatch: pytest.MonkeyPatch) -> None:
    from postdock_supervisor import proc
    from postdock_supervisor.decide.startup import Start, StartDecision
    from postdock_supervisor.errors import ActionError
    from postdock_supervisor.programs import bootstrap

    ran: list[str] = []
    monkeypatch.setattr(bootstrap.node, "start_postgres", lambda sv, pg: ran.append("start"))
    monkeypatch.setattr(bootstrap.node, "repmgr", lambda *a: ran.append(" ".join(a)) or proc.Completed(a, 0, ""))
    monkeypatch.setattr(bootstrap.lease_keeper, "promote_held", lambda pg, port, promote, approved=False: promote())
    monkeypatch.setattr(bootstrap, "unreachable_nodes", lambda pg: [])
    pg = make_settings().postgres
    assert pg is not None
    decision = StartDecision(Start.PROMOTE, "no primary running")
    monkeypatch.setattr(bootstrap.approve, "await_approval", lambda pg, port, out: (False, "refused"))
    with pytest.raises(ActionError, match="not approved"):
        bootstrap.promote(pg, decision, None)  # type: ignore[arg-type]
    assert ran == ["start"]
    monkeypatch.setattr(bootstrap.approve, "await_approval", lambda pg, port, out: (True, "approved"))
    bootstrap.promote(pg, decision, None)  # type: ignore[arg-type]
    assert ran == ["start", "start", "standby promote"]


def test_a_primary_restarting_after_a_crash_asks_the_whole_cluster_it_had_never_itself_alone(
    keeper: tuple[lease_keeper.LeaseKeeper, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    k, _ = keeper
    granting = Granting({"pgmaster"})
    k.asker = granting  # type: ignore[assignment]
    step(k, 0.0)  # a primary: its cluster is remembered
    k.local = Reader(False, ())  # postgres crashed: repmgr's list is out of reach
    step(k, 0.0)  # a round before crash_guard wrote the crash down
    monkeypatch.setattr(lease_keeper, "read_crashed_at", lambda: lease_keeper.time.monotonic())
    restarting = step(k, 0.0)
    assert granting.asked[-1] == ("lease-grant", "pgmaster", ("pgmaster", "pgslave1", "pgslave3"))
    assert restarting.snapshot.renewing and restarting.until == 0.0  # its own grant alone is no lease


def test_a_node_without_partners_has_no_lease_to_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A single node (or a cascade) runs no lease keeper: nothing may hold its commits."""
    from postdock_supervisor.decide.startup import Start, StartDecision
    from postdock_supervisor.programs import bootstrap
    from postdock_supervisor.roles import programs_for

    alone = make_settings(PARTNER_NODES="pgmaster")
    assert alone.postgres is not None and not alone.postgres.uses_lease
    assert approve.main(alone) == 0  # repmgrd's own rules decide
    assert "lease_keeper" not in [p.name for p in programs_for(alone)]
    held: list[str] = []
    monkeypatch.setattr(bootstrap.lease, "hold_in_file", lambda pgdata: held.append(pgdata))
    monkeypatch.setattr(bootstrap.node, "start_postgres", lambda sv, pg: None)
    monkeypatch.setattr(bootstrap.node, "create_cluster_roles", lambda pg: None)
    monkeypatch.setattr(bootstrap.node, "repmgr", lambda *a: proc.Completed(a, 0, ""))
    bootstrap.start_primary(alone.postgres, StartDecision(Start.START_PRIMARY, "x"), None)  # type: ignore[arg-type]
    assert held == []
    three = make_settings().postgres
    assert three is not None and three.uses_lease
    bootstrap.start_primary(three, StartDecision(Start.START_PRIMARY, "x"), None)  # type: ignore[arg-type]
    assert held == [three.pgdata]


def test_a_cascaded_standby_is_never_promoted_even_when_repmgr_moved_it_under_the_primary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by the 12 s freeze: a cascade following the primary (its own upstream had been down)
    won repmgrd's election "by default" and promoted itself, with no lease."""
    from postdock_supervisor.render.repmgr import repmgr_conf

    cascade = make_settings(
        NODE_NAME="node3", CLUSTER_NODE_NETWORK_NAME="pgslave2", PARTNER_NODES="", REPLICATION_UPSTREAM_NODE_ID="2"
    )
    assert cascade.postgres is not None and cascade.postgres.is_cascade
    conf = repmgr_conf(cascade)
    assert "priority=0\n" in conf
    assert "failover_validation_command='/usr/local/bin/postdock node approve-promotion'" in conf
    assert approve.main(cascade) == 1
    assert "pgslave2 is a cascaded standby (not in PARTNER_NODES): never promoted" in capsys.readouterr().out


def test_the_candidate_renews_its_approvals_while_repmgr_promotes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """repmgr's promotion can take longer than a lease (it first tries to reach the old primary): a
    lapsed approval would let a thawed old primary win its lease back meanwhile."""
    import time

    granting = Granting({"pgmaster", "pgslave1", "pgslave3"})
    monkeypatch.setattr(lease_keeper, "asker", lambda pg, port: granting)
    monkeypatch.setattr(lease_keeper, "LocalReader", lambda pg: Reader(False, ("pgslave1", "pgslave3")))
    monkeypatch.setattr(act, "set_standby_names", lambda pg, value: None)
    acquired: list[int] = []
    monkeypatch.setattr(lease_keeper, "acquire", lambda pg, port: acquired.append(len(granting.asked)) or True)
    pg = make_settings(LEASE_TIMEOUT="1").postgres
    assert pg is not None

    def promote() -> str:
        deadline = time.monotonic() + 10
        while len(granting.asked) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        return "promoted"

    assert lease_keeper.promote_held(pg, 8008, promote, approved=True) == "promoted"
    assert set(granting.asked[:3]) == {("lease-approve", "pgmaster", ("pgmaster", "pgslave1", "pgslave3"))}
    assert acquired and acquired[0] >= 3
    assert "lease-renew" not in [t.name for t in threading.enumerate()]  # joined: no renewal after it


def test_a_reported_lease_runs_out_by_the_wall_clock_even_while_its_node_is_frozen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import json

    from postdock_supervisor.observe.local import read_lease_left

    monkeypatch.setattr(paths, "LEASE_STATE", tmp_path / "lease.json")
    assert read_lease_left(1000.0) == 0.0  # no keeper round yet
    paths.LEASE_STATE.write_text(json.dumps({"held": False, "left_s": 1.8, "time": 1000.0}))
    assert read_lease_left(1000.5) == pytest.approx(1.3)
    assert read_lease_left(1012.0) == 0.0  # written just before a 12 s freeze
    paths.LEASE_STATE.write_text(json.dumps({"held": True, "left_s": 0.9, "time": 1000.0}))
    assert read_lease_left(1000.1) == 0.0  # commits held: no lease to speak of


def test_the_new_primary_asks_for_its_first_lease_as_soon_as_it_left_recovery_not_when_repmgr_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """repmgr standby promote checks the promotion once a second: writes came back up to 1 s late."""
    reader = Reader(False, ("pgslave1", "pgslave3"))
    monkeypatch.setattr(lease_keeper, "LocalReader", lambda pg: reader)
    monkeypatch.setattr(lease_keeper, "asker", lambda pg, port: Granting(set()))
    monkeypatch.setattr(act, "set_standby_names", lambda pg, value: None)
    acquired = threading.Event()
    monkeypatch.setattr(lease_keeper, "acquire", lambda pg, port: acquired.set() or True)
    pg = make_settings().postgres
    assert pg is not None

    def promote() -> str:
        reader.answer = (True, ("pgslave1", "pgslave3"))  # postgres left recovery...
        # ...and repmgr is still polling: the lease must be asked for meanwhile.
        return "promoted" if acquired.wait(timeout=10) else "no lease asked before repmgr returned"

    assert lease_keeper.promote_held(pg, 8008, promote) == "promoted"
    assert "lease-first" not in [t.name for t in threading.enumerate()]
