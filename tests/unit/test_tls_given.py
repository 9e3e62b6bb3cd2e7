"""TLS=1 with a certificate given for the node (tls.crt and tls.key in TLS_DIR, as scripts/node-tls.sh
or cert-manager write them): checked and served as it is, no CA key in the container, installed again
when the mounted pair changes; a pair that fails its check stops the start, or is refused at run time
while the previous one stays served. The host's openssl stands in for the image's."""

import logging
import shutil
from pathlib import Path

import pytest

from postdock_supervisor import healing, paths
from postdock_supervisor.act import tls
from postdock_supervisor.config import load_settings
from postdock_supervisor.decide.tls import TlsAct, decide_mounted, decide_tls
from postdock_supervisor.errors import ActionError, ConfigError
from postdock_supervisor.events.model import TickEvent
from postdock_supervisor.model.tls import Certificate, MountedCertificate, TlsSnapshot
from postdock_supervisor.programs import tls_keeper
from tests.builders import BASE_ENV, make_settings
from tests.unit.test_programs import FakeSupervisor
from tests.unit.test_tls import make_ca, node_certificate, node_with_ca, openssl

DAY = 86_400.0


@pytest.fixture
def given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the cluster CA's folder, the folder mounted at the node's TLS_DIR: ca.crt, tls.crt, tls.key for
    pgmaster and node1); the node's own TLS files go to a temporary folder."""
    ca, node = node_with_ca(tmp_path, monkeypatch)
    mounted = tmp_path / "mounted"
    node_certificate(ca, mounted, tmp_path, "pgmaster", "node1")
    monkeypatch.setattr(healing, "record", lambda *args: None)
    return ca, mounted


def test_a_given_certificate_is_checked_and_served_as_it_is_without_the_ca_key(given: tuple[Path, Path]) -> None:
    _, mounted = given
    assert sorted(p.name for p in mounted.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert (mounted / "tls.key").stat().st_mode & 0o777 == 0o600
    assert "DNS:pgmaster, DNS:node1" in openssl("x509", "-in", str(mounted / "tls.crt"), "-noout", "-ext",
                                                 "subjectAltName").stdout  # fmt: skip
    settings = load_settings({**BASE_ENV, "TLS": "1", "TLS_DIR": str(mounted)}, "h", read_ssh_key=True)
    tls.provide_own(settings)
    assert paths.TLS_CERT.read_text() == (mounted / "tls.crt").read_text()
    assert paths.TLS_KEY.read_text() == (mounted / "tls.key").read_text()
    assert paths.TLS_KEY.stat().st_mode & 0o777 == 0o600
    assert paths.TLS_CA.read_text() == (mounted / "ca.crt").read_text()


def test_half_a_given_pair_is_one_line_naming_tls_dir(tmp_path: Path, given: tuple[Path, Path]) -> None:
    _, mounted = given
    (mounted / "tls.key").unlink()
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE_ENV, "TLS": "1", "TLS_DIR": str(mounted)}, "h", read_ssh_key=True)
    assert raised.value.problems == [
        f"TLS_DIR: found no readable '{mounted}/tls.key' (No such file or directory); "
        "expected this node's key beside its tls.crt (TLS=1)"
    ]


def test_a_given_certificate_for_another_name_another_ca_or_with_another_key_is_refused(
    tmp_path: Path, given: tuple[Path, Path]
) -> None:
    ca, mounted = given
    settings = make_settings(TLS="1", TLS_DIR=str(mounted))
    wrong_name = tmp_path / "wrong-name"
    node_certificate(ca, wrong_name, tmp_path, "pgslave1", "node2")
    shutil.copy(wrong_name / "tls.crt", mounted / "tls.crt")
    shutil.copy(wrong_name / "tls.key", mounted / "tls.key")
    with pytest.raises(ActionError) as raised:
        tls.provide_own(settings)
    assert str(raised.value) == (
        f"found '{mounted}/tls.crt' not valid for 'pgmaster'; expected a certificate for every name this node "
        "is reached by (pgmaster)"
    )
    node_certificate(ca, tmp_path / "right", tmp_path, "pgmaster")
    shutil.copy(tmp_path / "right" / "tls.crt", mounted / "tls.crt")  # its key stays pgslave1's
    with pytest.raises(ActionError, match=r"tls.key' that is not the key of tls.crt; expected the unencrypted"):
        tls.provide_own(settings)
    other_ca = tmp_path / "other-ca"
    make_ca(other_ca, tmp_path)
    node_certificate(other_ca, tmp_path / "foreign", tmp_path, "pgmaster")
    shutil.copy(tmp_path / "foreign" / "tls.crt", mounted / "tls.crt")
    shutil.copy(tmp_path / "foreign" / "tls.key", mounted / "tls.key")
    with pytest.raises(ActionError, match=r"tls.crt' that the cluster CA does not verify \(.*\); expected a server"):
        tls.provide_own(settings)


def test_the_keeper_installs_a_new_mounted_pair_and_keeps_serving_the_old_one_when_refused(
    tmp_path: Path, given: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    ca, mounted = given
    settings = make_settings(TLS="1", TLS_DIR=str(mounted))
    tls.provide_own(settings)
    supervisor = FakeSupervisor({"postgres": "RUNNING"})
    keeper = tls_keeper.TlsKeeper(settings, supervisor, paths.TLS_CERT, paths.TLS_KEY)  # type: ignore[arg-type]
    served = keeper.observe(TickEvent(60))
    assert served is not None and served.mounted == MountedCertificate(new=False) and served.served.readable
    assert keeper.decide(served, served.served.not_before + 10).action is TlsAct.NOTHING
    # The user renews it: the node serves the new pair and postgres reloads.
    node_certificate(ca, mounted, tmp_path, "pgmaster", "node1")
    renewed = keeper.observe(TickEvent(60))
    assert renewed is not None and renewed.mounted == MountedCertificate(new=True)
    keeper.apply(keeper.decide(renewed, 0.0))
    assert paths.TLS_CERT.read_text() == (mounted / "tls.crt").read_text()
    assert supervisor.calls == [("signal", "postgres", "HUP")]
    # A pair for another node is refused once, logged, and the renewed one stays served.
    before = paths.TLS_CERT.read_text()
    node_certificate(ca, mounted, tmp_path, "pgslave1")
    wrong = keeper.observe(TickEvent(60))
    assert wrong is not None and wrong.mounted == MountedCertificate(new=True)
    with caplog.at_level(logging.ERROR):
        keeper.apply(keeper.decide(wrong, 0.0))
    assert paths.TLS_CERT.read_text() == before and supervisor.calls == [("signal", "postgres", "HUP")]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"the certificate mounted in TLS_DIR is refused: found '{mounted}/tls.crt' not valid for 'pgmaster'; "
        "expected a certificate for every name this node is reached by (pgmaster); still serving the previous one"
    ]
    again = keeper.observe(TickEvent(60))
    assert again is not None and again.mounted == MountedCertificate(new=False)  # not retried every 5 s


def test_a_given_certificate_is_left_to_its_issuer_to_renew() -> None:
    served = Certificate(0.0, 90 * DAY)
    waits = decide_mounted(served, MountedCertificate(new=False), 89 * DAY)
    assert (waits.action, waits.reason) == (
        TlsAct.NOTHING,
        "serving the mounted certificate, valid until 1970-04-01 00:00:00 UTC (expires in 86400s)",
    )
    new = decide_mounted(served, MountedCertificate(new=True), 10.0)
    assert (new.action, new.reason) == (TlsAct.INSTALL, "a new certificate is mounted in TLS_DIR: installing it")
    assert decide_mounted(Certificate(), MountedCertificate(), 0.0).action is TlsAct.NOTHING
    issued = TlsSnapshot(served)  # a node without a mounted pair renews its own
    assert decide_tls(issued, 61 * DAY).action is TlsAct.RENEW
