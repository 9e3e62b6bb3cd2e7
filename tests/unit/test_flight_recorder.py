"""The failover flight recorder: each promotion's phases on the wall clock, summed to what a writer sees."""

import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from postdock_supervisor import healing, status
from postdock_supervisor.model.failover import AFTER, FailoverRecord, phases, summary
from postdock_supervisor.observe.peers import SSL_REQUEST, postgres_answers, postgres_state
from postdock_supervisor.programs import approve
from tests.builders import make_settings, running_primary


def test_the_phases_run_from_the_old_primary_last_seen_to_the_first_write_and_add_up() -> None:
    record = FailoverRecord(lost_at=1000.0, detected_at=1000.4, approved_at=1001.9, writable_at=1002.3)
    assert [(name, round(seconds, 6)) for name, seconds in phases(record)] == [
        ("detect", 0.4),
        ("lease", 1.5),
        ("promote", 0.4),
    ]
    assert sum(seconds for _, seconds in phases(record)) == pytest.approx(record.total)
    assert summary(record) == (
        "failover at 1970-01-01 00:16:40 UTC: writable 2.30s after the old primary was last seen "
        "(detect 0.40s, lease 1.50s, promote 0.40s)"
    )
    waiting = FailoverRecord(lost_at=1000.0, detected_at=1000.4)
    assert summary(waiting) == "failover at 1970-01-01 00:16:40 UTC not finished: detect 0.40s"


def test_writes_came_back_at_the_first_release_after_the_approval_never_an_older_one() -> None:
    approved = FailoverRecord(lost_at=10.0, detected_at=11.0, approved_at=12.0)
    assert approved.with_writable(9.0).writable_at == 0.0  # the hold of an earlier term
    assert approved.with_writable(12.5).writable_at == 12.5
    assert approved.with_writable(12.5).with_writable(40.0).writable_at == 12.5  # a later blip is not this failover
    assert FailoverRecord(10.0, 11.0).with_writable(12.5).writable_at == 0.0  # not approved yet


def test_a_damaged_record_is_no_record() -> None:
    assert FailoverRecord.from_json({"lost_at": "x", "detected_at": 1}) is None
    assert FailoverRecord.from_json([]) is None
    assert FailoverRecord.from_json({"lost_at": 1, "detected_at": 2}) == FailoverRecord(1.0, 2.0)


def test_an_election_rerun_continues_the_unfinished_record_and_a_new_failover_starts_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(approve, "read_primary_last_alive", lambda pg, now: now - 0.7)
    monkeypatch.setattr(approve, "read_recorded_primary", lambda pg: "node1")
    pg = make_settings().postgres
    assert pg is not None
    first = approve.detection(pg, 500.0, None)
    assert (round(first.lost_at, 6), first.detected_at, first.old_primary) == (499.3, 500.0, "node1")
    assert approve.detection(pg, 503.0, first) is first  # refused once, elected again 3 s later
    done = FailoverRecord(499.3, 500.0, 501.0, 501.4)
    assert approve.detection(pg, 503.0, done).detected_at == 503.0
    assert approve.detection(pg, 600.0, first).detected_at == 600.0


def test_the_old_primary_rejoined_when_its_wal_sender_started_after_the_new_primary_took_writes(
    tmp_path: Path,
) -> None:
    done = FailoverRecord(1000.0, 1000.4, 1001.9, 1002.3, old_primary="node1")
    assert done.with_rejoined(None) is done
    assert done.with_rejoined(990.0) is done  # a stream from before the failover is not its rejoin
    rejoined = done.with_rejoined(1010.3)
    assert rejoined.with_rejoined(1050.0).rejoined_at == 1010.3  # a later reconnect is not this failover's
    assert FailoverRecord(1000.0, 1000.4, 1001.9).with_rejoined(1010.3).rejoined_at == 0.0  # not writable yet
    # After the outage, not part of it: the total and the outage's phases stay what clients saw.
    assert rejoined.total == done.total
    assert [name for name, _ in phases(rejoined)] == ["detect", "lease", "promote"]
    assert [(n, round(s, 6)) for n, s in phases(rejoined, AFTER)] == [("rejoin", 8.0)]
    assert summary(rejoined) == summary(done) + "; node1 rejoined 8.00s later"
    # Each stamp has its own file and writer; reading merges them.
    healing.write_failover(replace(done, writable_at=0.0), tmp_path)
    healing.record_released(1002.3, tmp_path)
    healing.record_rejoined(1010.3, tmp_path)
    assert healing.read_failover(tmp_path) == rejoined


def test_status_shows_each_promoted_nodes_last_failover_under_the_table(tmp_path: Path) -> None:
    healing.write_failover(FailoverRecord(1000.0, 1000.4, 1001.9), tmp_path)
    healing.record_released(1002.3, tmp_path)
    record = healing.read_failover(tmp_path)
    assert record is not None and record.total == pytest.approx(2.3)
    report = running_primary("pgslave3", 2)
    rows = status.rows({"pgslave3": replace(report, last_failover=summary(record)), "pgmaster": None})
    lines = status.table(rows).splitlines()
    assert lines[-1] == f"{report.name}: {summary(record)}"
    assert len(lines) == 4  # header, two nodes, one failover line


def test_a_postgres_that_answers_nothing_is_unreachable_even_when_its_kernel_accepts_the_connection() -> None:
    """A frozen container's kernel completes the TCP handshake: only the protocol's answer counts."""

    def serve(listener: socket.socket, answer: bytes) -> None:
        conn, _ = listener.accept()
        with conn:
            if conn.recv(8) == SSL_REQUEST and answer:
                conn.sendall(answer)
            conn.recv(1)  # hold the connection open until the client gives up

    results, states = {}, {}
    for name, answer in (("answering", b"N"), ("frozen", b"")):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            thread = threading.Thread(target=serve, args=(listener, answer), daemon=True)
            thread.start()
            results[name] = postgres_answers("127.0.0.1", listener.getsockname()[1], timeout=0.2)
            thread.join(timeout=5)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            thread = threading.Thread(target=serve, args=(listener, answer), daemon=True)
            thread.start()
            states[name] = postgres_state("127.0.0.1", listener.getsockname()[1], timeout=0.2)
            thread.join(timeout=5)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        closed_port = listener.getsockname()[1]
    results["down"] = postgres_answers("127.0.0.1", closed_port, timeout=0.2)
    states["down"] = postgres_state("127.0.0.1", closed_port, timeout=0.2)
    assert results == {"answering": True, "frozen": False, "down": False}
    # The pool keeper tells the frozen node (connection taken, no answer) from the gone one.
    assert states == {"answering": "answers", "frozen": "silent", "down": "unreachable"}


def test_pgpools_phase_runs_from_the_new_primary_taking_writes_to_pgpool_switching() -> None:
    from postdock_supervisor.model.failover import pgpool_lag

    assert pgpool_lag(1002.8, 1002.3) == pytest.approx(0.5)
    assert pgpool_lag(1002.0, 1002.3) == 0.0  # pgpool was ready first: writes waited for the lease
    assert pgpool_lag(1002.0, 0.0) is None  # the node has no failover record
    assert pgpool_lag(5000.0, 1002.3) is None  # an old record: this was a switchover


def test_the_pool_keeper_times_the_switch_once_the_new_primarys_record_says_when_it_took_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from postdock_supervisor.metrics import pgpool_switch_metrics
    from postdock_supervisor.programs import pool_keeper
    from tests.unit.test_metrics import exposition
    from tests.unit.test_pgpool import pool_settings

    keeper = pool_keeper.PoolKeeper(pool_settings())
    records = iter([0.0, 0.0, 1000.0])
    monkeypatch.setattr(
        pool_keeper,
        "fetch_report",
        lambda host, port, timeout: replace(running_primary(host, 2), writable_at=next(records)),
    )
    monkeypatch.setattr(pool_keeper.time, "time", lambda: 1000.5)
    keeper.switch = ("pgslave1", 1000.5)
    keeper._time_switch()
    keeper._time_switch()
    assert keeper.switched == {} and keeper.switch is not None  # not written yet: asked again
    keeper._time_switch()
    assert keeper.switch is None
    assert keeper.switched == {"host": "pgslave1", "at": 1000.5, "after_writable": 0.5}

    text = exposition(pgpool_switch_metrics(keeper.switched))
    assert 'postdock_pgpool_switch_after_writable_seconds{host="pgslave1"} 0.5' in text
    assert pgpool_switch_metrics(None) == [] and pgpool_switch_metrics({"host": "x"}) == []
