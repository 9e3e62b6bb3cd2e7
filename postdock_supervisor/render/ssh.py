"""sshd and ssh client configuration. The user's login pair is the postgres user's client key and its
only authorized key; the host authority (host_ca, or the login key where there is none) certifies
each container's host key: known_hosts holds that authority, so host key checking stays on without
collecting every host key by hand."""

from pathlib import Path

from postdock_supervisor import paths
from postdock_supervisor.config import Settings

HOST_KEY_NAME = "ssh_host_ed25519_key"


def client_key_path(settings: Settings) -> Path:
    assert settings.ssh_key is not None
    return paths.POSTGRES_SSH_DIR / Path(settings.ssh_key.private_path).name


def sshd_config(settings: Settings) -> str:
    host_key = Path(settings.common.ssh_host_key_dir) / HOST_KEY_NAME
    return (
        "\n".join(
            [
                "# Rendered by postdock. Key login for postgres only; no root, no passwords.",
                "Port 22",
                f"HostKey {host_key}",
                f"HostCertificate {host_key}-cert.pub",
                "PermitRootLogin no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "AllowUsers postgres",
                # Root-owned, so the postgres user cannot add keys for itself.
                f"AuthorizedKeysFile {paths.SSH_AUTHORIZED_DIR}/%u",
                "UsePAM no",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                f"PidFile {paths.ROOT_RUN}/sshd.pid",
                "LogLevel INFO",
            ]
        )
        + "\n"
    )


def ssh_client_config(settings: Settings) -> str:
    return (
        "\n".join(
            [
                "# Rendered by postdock: cluster hosts prove themselves with a certificate signed by the",
                "# cluster key; unknown or uncertified hosts are refused.",
                "Host *",
                "    StrictHostKeyChecking yes",
                f"    UserKnownHostsFile {paths.SSH_KNOWN_HOSTS}",
                f"    IdentityFile {client_key_path(settings)}",
                "    BatchMode yes",
                "    ConnectTimeout 5",
            ]
        )
        + "\n"
    )


def known_hosts(settings: Settings) -> str:
    assert settings.ssh_key is not None
    return f"@cert-authority * {settings.ssh_key.authority}\n"


def authorized_keys(settings: Settings) -> str:
    assert settings.ssh_key is not None
    return settings.ssh_key.public + "\n"
