"""Per-container SSH host identity: a host key made at first start, certified at every start."""

import logging
import shutil
from pathlib import Path

from postdock_supervisor import proc
from postdock_supervisor.config import Settings
from postdock_supervisor.errors import ActionError
from postdock_supervisor.render.ssh import HOST_KEY_NAME, client_key_path

logger = logging.getLogger(__name__)


def prepare_host_identity(settings: Settings, principals: list[str]) -> None:
    assert settings.ssh_key is not None
    key_dir = Path(settings.common.ssh_host_key_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    key_dir.chmod(0o700)
    host_key = key_dir / HOST_KEY_NAME
    if not host_key.exists():
        proc.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principals[0], "-f", str(host_key)],
            check=True,
            quiet=True,
        )
        logger.info("generated this container's SSH host key")
    # Re-certified at every start, so a renamed node gets a certificate for its new names.
    done = proc.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            settings.ssh_key.private_path,
            "-I",
            principals[0],
            "-h",
            "-n",
            ",".join(dict.fromkeys(principals)),
            f"{host_key}.pub",
        ],
        quiet=True,
    )
    if not done.ok:
        raise ActionError(
            f"could not certify the SSH host key with {settings.ssh_key.private_path}: {done.output.strip()}"
        )
    client_key = client_key_path(settings)
    client_key.parent.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(settings.ssh_key.private_path, client_key)
    client_key.chmod(0o600)
    for path in (client_key.parent, client_key):
        shutil.chown(path, "postgres", "postgres")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
