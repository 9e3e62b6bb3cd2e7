"""SSH option: the mounted keys are validated at start and rendered into sshd/ssh config; the host
authority (apart from the login key) certifies host keys for SSH_CERT_DAYS, renewed by ssh_keeper."""

import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from postdock_supervisor import healing, paths
from postdock_supervisor.act import ssh
from postdock_supervisor.config import load_settings
from postdock_supervisor.decide.tls import TlsAct
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.model.tls import Certificate
from postdock_supervisor.observe.ssh import parse_validity, read_host_certificate
from postdock_supervisor.programs import ssh_keeper
from postdock_supervisor.render import render_all
from postdock_supervisor.roles import programs_for
from tests.builders import BASE_ENV
from tests.unit.test_programs import FakeSupervisor


def test_missing_key_pair_is_a_start_error_naming_the_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "SSH_ENABLE": "1", "SSH_KEY_DIR": str(tmp_path)}, "h", read_ssh_key=True)
    assert caught.value.problems == [
        f"SSH_KEY_DIR: found '{tmp_path}' without id_ed25519, id_ecdsa, id_rsa; "
        "expected a mounted key pair (SSH_ENABLE=1)"
    ]


def test_key_pair_renders_strict_client_and_key_only_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "id_ed25519").write_text("PRIVATE KEY BODY\n")
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAAC3Nza cluster\n")
    settings = load_settings({**BASE_ENV, "SSH_ENABLE": "1", "SSH_KEY_DIR": str(tmp_path)}, "h", read_ssh_key=True)
    files = {f.path: f.content for f in render_all(settings)}
    sshd = files[paths.SSHD_CONF].splitlines()
    for line in ("PermitRootLogin no", "PasswordAuthentication no", "AllowUsers postgres"):
        assert line in sshd
    assert "    StrictHostKeyChecking yes" in files[paths.SSH_CLIENT_CONF].splitlines()
    assert files[paths.SSH_KNOWN_HOSTS] == "@cert-authority * ssh-ed25519 AAAAC3Nza cluster\n"
    assert files[paths.SSH_AUTHORIZED_DIR / "postgres"] == "ssh-ed25519 AAAAC3Nza cluster\n"
    assert not any("PRIVATE KEY BODY" in content for content in files.values())


def test_without_ssh_no_key_is_read_and_no_sshd_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings({**BASE_ENV, "SSH_KEY_DIR": str(tmp_path / "absent")}, "h")
    assert settings.ssh_key is None
    assert paths.SSHD_CONF not in {f.path for f in render_all(settings)}


def keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().strip()


def ssh_env(key_dir: Path, host_key_dir: Path, **more: str) -> dict[str, str]:
    return {**BASE_ENV, "SSH_ENABLE": "1", "SSH_KEY_DIR": str(key_dir), "SSH_HOST_KEY_DIR": str(host_key_dir), **more}


def test_the_host_authority_certifies_hosts_and_the_login_key_only_logs_in(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    login = keygen(keys / "id_ed25519", "login")
    authority = keygen(keys / "host_ca", "host-ca")
    settings = load_settings(ssh_env(keys, tmp_path / "host"), "h", read_ssh_key=True)
    assert settings.ssh_key is not None and settings.ssh_key.signer == str(keys / "host_ca")
    files = {f.path: f.content for f in render_all(settings)}
    assert files[paths.SSH_KNOWN_HOSTS] == f"@cert-authority * {authority}\n"
    assert files[paths.SSH_AUTHORIZED_DIR / "postgres"] == f"{login}\n"
    # The host key certified for the node's names, for SSH_CERT_DAYS, by the host authority.
    (tmp_path / "host").mkdir()
    keygen(tmp_path / "host" / "ssh_host_ed25519_key", "pgmaster")
    short = load_settings(ssh_env(keys, tmp_path / "host", SSH_CERT_DAYS="2h"), "h", read_ssh_key=True)
    before = time.time()
    ssh.certify_host_key(short)
    shown = subprocess.run(["ssh-keygen", "-L", "-f", str(ssh.host_certificate_path(short))], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(keys / "host_ca.pub")], capture_output=True,
                                 text=True, check=True).stdout.split()[1]  # fmt: skip
    assert f"Signing CA: ED25519 {fingerprint}" in shown and "host certificate" in shown
    assert {"pgmaster", "node1", "localhost"} <= {line.strip() for line in shown.splitlines()}
    window = read_host_certificate(ssh.host_certificate_path(short))
    assert window.not_before == pytest.approx(before - 300, abs=5)
    assert window.not_after == pytest.approx(before + 2 * 3600, abs=5)


def test_a_host_authority_without_its_pair_or_equal_to_the_login_key_is_one_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    login = keygen(keys / "id_ed25519", "login")
    (keys / "host_ca.pub").write_text(login + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ssh_env(keys, tmp_path / "host"), "h", read_ssh_key=True)
    assert caught.value.problems == [
        f"SSH_KEY_DIR: found host_ca without a readable pair in '{keys}' (No such file or directory); expected "
        "host_ca and host_ca.pub, the host certificate authority (SSH_ENABLE=1)"
    ]
    (keys / "host_ca").write_text((keys / "id_ed25519").read_text())
    with pytest.raises(ConfigError) as caught:
        load_settings(ssh_env(keys, tmp_path / "host"), "h", read_ssh_key=True)
    assert caught.value.problems == [
        "SSH_KEY_DIR: found host_ca.pub equal to the login key's; expected a key pair of its own, so that the key "
        "every postgres account holds cannot certify hosts (SSH_ENABLE=1)"
    ]


def test_without_a_host_authority_the_login_key_certifies_hosts_as_before(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    login = keygen(keys / "id_ed25519", "login")
    settings = load_settings(ssh_env(keys, tmp_path / "host"), "h", read_ssh_key=True)
    assert settings.ssh_key is not None and settings.ssh_key.signer == str(keys / "id_ed25519")
    assert {f.path: f.content for f in render_all(settings)}[paths.SSH_KNOWN_HOSTS] == f"@cert-authority * {login}\n"


def test_ssh_keygens_validity_is_read_in_local_time_and_forever_counts_as_none() -> None:
    text = "        Valid: from 2026-12-05T04:08:31 to 2026-12-05T04:15:31\n"
    window = parse_validity(text)
    assert window.not_after - window.not_before == 420
    assert window.not_before == datetime(2026, 12, 5, 4, 8, 31).timestamp()
    assert not parse_validity("        Valid: forever\n").readable


def test_the_ssh_keeper_certifies_again_at_two_thirds_and_sshd_rereads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certified: list[str] = []
    monkeypatch.setattr(ssh, "certify_host_key", lambda settings: certified.append("certify"))
    monkeypatch.setattr(healing, "record", lambda *args: None)
    settings = load_settings({**BASE_ENV, "SSH_ENABLE": "1"}, "h")
    supervisor = FakeSupervisor({"sshd": "RUNNING"})
    keeper = ssh_keeper.SshKeeper(settings, supervisor)  # type: ignore[arg-type]
    window = Certificate(0.0, 90 * 86_400.0)
    assert keeper.decide(window, 59 * 86_400.0).action is TlsAct.NOTHING
    keeper.apply(keeper.decide(window, 61 * 86_400.0))
    assert certified == ["certify"] and supervisor.calls == [("signal", "sshd", "HUP")]
    spec = [(p.user, p.events) for p in programs_for(settings) if p.name == "ssh_keeper"]
    assert spec == [("root", ("TICK_60",))]
    assert not [p for p in programs_for(load_settings(BASE_ENV, "h")) if p.name == "ssh_keeper"]
