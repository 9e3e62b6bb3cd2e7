"""A node renews its own certificate once two thirds of its validity have passed: postgres reloads it,
pgpool restarts; the validity may be given in minutes for tests of renewal."""

from pathlib import Path

import pytest

from postdock_supervisor import paths
from postdock_supervisor.config import Role, load_settings
from postdock_supervisor.decide.tls import TlsAct, decide_renewal
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.events.model import TickEvent
from postdock_supervisor.metrics import tls_metrics
from postdock_supervisor.model.tls import Certificate, TlsSnapshot
from postdock_supervisor.observe.tls import parse_dates, read_certificate
from postdock_supervisor.programs import tls_keeper
from postdock_supervisor.roles import programs_for
from tests.builders import BASE_ENV, make_settings
from tests.unit.test_pgpool import pool_settings
from tests.unit.test_programs import FakeSupervisor
from tests.unit.test_tls import node_with_ca

DAY = 86_400.0


def test_the_validity_is_whole_days_or_a_number_with_a_unit() -> None:
    assert make_settings(TLS_CERT_DAYS="90").common.tls_cert_validity_s == 90 * 86_400
    assert make_settings(TLS_CERT_DAYS="2m").common.tls_cert_validity_s == 120
    assert make_settings(TLS_CERT_DAYS="12h").common.tls_cert_validity_s == 12 * 3600
    for bad in ("1m", "0", "2w", "-3", "1.5"):
        with pytest.raises(ConfigError, match=r"^TLS_CERT_DAYS: found "):
            load_settings({**BASE_ENV, "TLS_CERT_DAYS": bad})


def test_openssls_dates_are_read_as_utc() -> None:
    text = "notBefore=Dec  4 21:50:00 2026 GMT\nnotAfter=Mar  4 21:50:00 2027 GMT\n"
    assert parse_dates(text) == Certificate(1796421000.0, 1804197000.0)
    assert not parse_dates("garbage").readable


def test_renewal_comes_once_two_thirds_of_the_validity_have_passed() -> None:
    cert = Certificate(0.0, 90 * DAY)
    waits = decide_renewal(cert, 59 * DAY)
    assert waits.action is TlsAct.NOTHING
    assert waits.reason == "certificate valid until 1970-04-01 00:00:00 UTC, renewed from 1970-03-02 00:00:00 UTC"
    due = decide_renewal(cert, 60 * DAY)
    assert due.action is TlsAct.RENEW
    assert due.reason == "certificate valid until 1970-04-01 00:00:00 UTC (expires in 2592000s): renewing it"
    late = decide_renewal(cert, 91 * DAY)
    assert late.reason == "certificate valid until 1970-04-01 00:00:00 UTC (expired 86400s ago): renewing it"
    assert decide_renewal(Certificate(), 0.0).reason == "no readable certificate: issuing one"


@pytest.fixture
def node_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return node_with_ca(tmp_path, monkeypatch)[0]


def test_a_node_reissues_its_certificate_and_postgres_reloads_it(node_files: Path) -> None:
    settings = make_settings(TLS="1", TLS_DIR=str(node_files))
    supervisor = FakeSupervisor({"postgres": "RUNNING"})
    keeper = tls_keeper.TlsKeeper(settings, supervisor, paths.TLS_CERT)  # type: ignore[arg-type]
    assert keeper.observe(TickEvent(60)) == TlsSnapshot(Certificate())
    first = keeper.decide(TlsSnapshot(Certificate()), 0.0)
    keeper.apply(first)
    issued = read_certificate(paths.TLS_CERT)
    assert issued.readable and issued.not_after - issued.not_before == pytest.approx(90 * DAY, abs=5)
    assert supervisor.calls == [("signal", "postgres", "HUP")]
    assert keeper.observe(TickEvent(60)) == TlsSnapshot(issued)  # read again once the file changed
    assert keeper.decide(TlsSnapshot(issued), issued.not_before + 10).action is TlsAct.NOTHING
    before = paths.TLS_CERT.read_text()
    keeper.apply(keeper.decide(TlsSnapshot(issued), issued.not_before + 61 * DAY))
    assert paths.TLS_CERT.read_text() != before  # a new key and serial
    assert supervisor.calls == [("signal", "postgres", "HUP")] * 2


def test_pgpool_restarts_to_serve_a_renewed_certificate(node_files: Path) -> None:
    settings = pool_settings(TLS="1", TLS_DIR=str(node_files))
    supervisor = FakeSupervisor({"pgpool": "RUNNING"})
    keeper = tls_keeper.TlsKeeper(settings, supervisor, paths.TLS_CERT)  # type: ignore[arg-type]
    keeper.apply(decide_renewal(Certificate(), 0.0))
    assert supervisor.calls == [("stop", "pgpool"), ("start", "pgpool")]


def test_the_keeper_runs_as_root_where_a_certificate_is_issued_and_nowhere_else() -> None:
    def keeper(settings_env: dict[str, str], role: Role | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
        settings = pool_settings(**settings_env) if role is Role.PGPOOL else make_settings(**settings_env)
        return [(p.name, p.user, p.events) for p in programs_for(settings) if p.name == "tls_keeper"]

    assert keeper({"TLS": "1"}) == [("tls_keeper", "root", ("TICK_5",))]
    assert keeper({"TLS": "1"}, Role.PGPOOL) == [("tls_keeper", "root", ("TICK_5",))]
    assert keeper({}) == []


def test_the_exporter_shows_the_served_certificates_validity() -> None:
    shown = {m.name: [(s.labels, s.value) for s in m.samples] for m in tls_metrics("node1", Certificate(10.0, 130.0))}
    assert shown == {
        "postdock_tls_certificate_valid_from_timestamp_seconds": [({"node": "node1"}, 10.0)],
        "postdock_tls_certificate_expiry_timestamp_seconds": [({"node": "node1"}, 130.0)],
    }
    assert tls_metrics("node1", Certificate()) == []
