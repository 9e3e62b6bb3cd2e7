"""Pure parts of `postdock status` and `postdock health`."""

from postdock_supervisor import roles
from postdock_supervisor.health import postgres_health
from postdock_supervisor.status import rows, table
from tests.builders import make_settings, running_primary, running_standby


def test_status_rows_put_the_primary_first_and_compute_lag() -> None:
    reports = {
        "pgslave1": running_standby("pgslave1", 2, "pgmaster"),
        "pgmaster": running_primary("pgmaster", 1),
        "pgslave9": None,
    }
    out = rows(reports)
    assert [r["host"] for r in out] == ["pgmaster", "pgslave1", "pgslave9"]
    assert out[1]["lag_bytes"] == 0x6000000 - 0x5000000
    assert (out[2]["state"], out[2]["role"]) == ("unreachable", "unknown")
    assert table(out).splitlines()[0].split() == [
        "NODE",
        "ID",
        "HOST",
        "ROLE",
        "UPSTREAM",
        "STATE",
        "TIMELINE",
        "LSN",
        "LAG_BYTES",
    ]


def test_health_fails_while_starting_and_when_a_program_is_down() -> None:
    running = {"postgres": "RUNNING", "repmgrd": "RUNNING", "agent": "RUNNING"}
    assert postgres_health(running, "done", "").ok
    starting = postgres_health(running, "clone", "cloning from pgmaster")
    assert (starting.ok, starting.reason) == (False, "starting (clone): cloning from pgmaster")
    down = postgres_health({**running, "postgres": "EXITED"}, "done", "")
    assert (down.ok, down.reason) == (False, "not running: postgres (EXITED)")
    assert postgres_health({}, "done", "").reason == "supervisord does not answer"
    gave_up = postgres_health(running, "gave-up", "postgres exited 6 times within 300s")
    assert (gave_up.ok, gave_up.reason) == (False, "gave-up: postgres exited 6 times within 300s")


def test_readiness_fails_while_a_safety_program_of_the_role_is_not_running() -> None:
    safety = roles.safety_programs(make_settings())
    assert {"agent", "crash_guard", "role_check", "lease_keeper", "handover", "sync_keeper"} <= set(safety)
    running = {name: "RUNNING" for name in ("postgres", "repmgrd", *safety)}
    assert postgres_health(running, "done", "", safety).ok
    assert postgres_health({**running, "crash_guard": "STARTING"}, "done", "", safety).ok  # restarted just now
    down = postgres_health({**running, "lease_keeper": "FATAL", "agent": "BACKOFF"}, "done", "", safety)
    assert (down.ok, down.reason) == (False, "safety programs not running: agent (BACKOFF), lease_keeper (FATAL)")
    gone = postgres_health({k: v for k, v in running.items() if k != "role_check"}, "done", "", safety)
    assert gone.reason == "safety programs not running: role_check (absent)"
    cascade = roles.safety_programs(make_settings(PARTNER_NODES="", REPLICATION_PRIMARY_HOST="pgslave1"))
    assert "lease_keeper" not in cascade and "handover" not in cascade and "agent" in cascade


def test_liveness_tolerates_a_node_that_is_busy_and_fails_one_that_gave_up() -> None:
    from postdock_supervisor.health import liveness

    assert liveness({"postgres": "STOPPED", "bootstrap": "RUNNING"}, "cloning", "from pgmaster").ok
    assert liveness({"postgres": "RUNNING"}, "gave-up", "crash loop").reason == "gave up: crash loop"
    assert liveness({"pgpool": "FATAL", "sshd": "RUNNING"}, "done", "").reason == "programs in FATAL state: pgpool"
    assert not liveness({}, "done", "").ok


def test_status_on_pgpool_adds_pgpool_view_of_each_host() -> None:
    from postdock_supervisor.status import with_pool_view

    out = with_pool_view(
        rows({"pgmaster": running_primary("pgmaster", 1), "pgslave1": None}), {"pgmaster": "up", "x": "down"}
    )
    assert [(r["host"], r["pool"]) for r in out] == [("pgmaster", "up"), ("pgslave1", "?")]
    lines = table(out).splitlines()
    assert lines[0].split()[-1] == "POOL" and lines[1].split()[-1] == "up"
