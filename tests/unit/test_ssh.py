"""SSH option: the mounted key pair is validated at start and rendered into sshd/ssh config."""

import pytest

from postdock_supervisor import paths
from postdock_supervisor.config import load_settings
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.render import render_all
from tests.builders import BASE_ENV


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
