"""Per-container SSH host identity: a host key made at first start, certified at every start by the
host authority for a limited time, and again before that ends (programs/ssh_keeper.py)."""

import logging
import shutil
import socket
from pathlib import Path

from postdock_supervisor import proc
from postdock_supervisor.config import Settings
from postdock_supervisor.errors import ActionError
from postdock_supervisor.render.ssh import HOST_KEY_NAME, client_key_path

logger = logging.getLogger(__name__)
BACKDATE = "-5m"  # a certificate valid from a little before now: the clocks of other hosts differ


def host_principals(settings: Settings) -> list[str]:
    """Every name another container may reach this one by."""
    names = [settings.postgres.network_name, settings.postgres.node_name] if settings.postgres else []
    return list(dict.fromkeys([*names, socket.gethostname(), "localhost"]))


def host_key_path(settings: Settings) -> Path:
    return Path(settings.common.ssh_host_key_dir) / HOST_KEY_NAME


def host_certificate_path(settings: Settings) -> Path:
    return Path(f"{host_key_path(settings)}-cert.pub")


def prepare_host_identity(settings: Settings) -> None:
    assert settings.ssh_key is not None
    key_dir = Path(settings.common.ssh_host_key_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    key_dir.chmod(0o700)
    host_key = host_key_path(settings)
    principals = host_principals(settings)
    if not host_key.exists():
        proc.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principals[0], "-f", str(host_key)],
            check=True,
            quiet=True,
        )
        logger.info("generated this container's SSH host key")
    if settings.ssh_key.host_ca_path is None:
        logger.warning("SSH_KEY_DIR has no host_ca: the login key certifies host keys (cluster-key.sh adds one)")
    # Re-certified at every start, so a renamed node gets a certificate for its new names.
    certify_host_key(settings)
    client_key = client_key_path(settings)
    client_key.parent.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(settings.ssh_key.private_path, client_key)  # the login key only, never the host CA
    client_key.chmod(0o600)
    for path in (client_key.parent, client_key):
        shutil.chown(path, "postgres", "postgres")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)


def certify_host_key(settings: Settings) -> None:
    """A certificate of this container's host key for its names, valid SSH_CERT_DAYS from now."""
    assert settings.ssh_key is not None
    validity = f"{BACKDATE}:+{settings.common.ssh_cert_validity_s}s"
    host_key = host_key_path(settings)
    principals = host_principals(settings)
    argv = ["ssh-keygen", "-q", "-s", settings.ssh_key.signer, "-I", principals[0], "-h", "-n", ",".join(principals),
            "-V", validity, f"{host_key}.pub"]  # fmt: skip
    done = proc.run(argv, quiet=True)
    if not done.ok:
        raise ActionError(f"could not certify the SSH host key with {settings.ssh_key.signer}: {done.output.strip()}")
