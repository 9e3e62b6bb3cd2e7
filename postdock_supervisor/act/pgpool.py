"""Side effects of the pgpool role: credentials at start, starting pgpool, pcp commands."""

import logging
import os
import secrets
import socket
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from postdock_supervisor import files, paths, proc
from postdock_supervisor.config import PgpoolSettings, Settings
from postdock_supervisor.errors import ActionError
from postdock_supervisor.render.pgpool import pcp_conf, pcppass, pgpool_conf

logger = logging.getLogger(__name__)

PGPOOL = "/usr/sbin/pgpool"
PG_ENC = "/usr/sbin/pg_enc"


def write_credentials(pool: PgpoolSettings) -> None:
    """pcp.conf and the keeper's PCP passfile; pool_passwd with AES entries made by pg_enc under a
    key new at every start, so nothing of an earlier start's secrets lingers."""
    pcp_password = pool.pcp_password.reveal() or secrets.token_urlsafe(24)
    files.write_atomic(paths.PCP_CONF, pcp_conf(pool.pcp_user, pcp_password), 0o640, "root", "postgres")
    files.write_atomic(paths.PCPPASS, pcppass(pool.pcp_user, pcp_password), 0o600, "postgres", "postgres")
    files.write_atomic(paths.PGPOOL_KEY, secrets.token_urlsafe(32) + "\n", 0o600, "postgres", "postgres")
    users = {user: password.reveal() for user, password in pool.db_users}
    users.setdefault(pool.check_user, pool.check_password.reveal())
    files.write_atomic(paths.POOL_PASSWD, "", 0o600, "postgres", "postgres")
    # pg_enc reads the pairs from a file: no password on a command line or a terminal.
    fd, pairs = tempfile.mkstemp(dir=paths.SECRETS.parent, prefix=".pool-users.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{user}:{password}\n" for user, password in users.items()))
        done = proc.run(
            [PG_ENC, "-m", "-f", str(paths.PGPOOL_CONF), "-k", str(paths.PGPOOL_KEY), "-i", pairs],
            timeout=30,
            quiet=True,
        )
    finally:
        Path(pairs).unlink(missing_ok=True)
    entries = paths.POOL_PASSWD.read_text(encoding="utf-8").splitlines()
    if not done.ok or len(entries) != len(users):
        raise ActionError(f"pg_enc made {len(entries)} of {len(users)} pool_passwd entries (code {done.returncode})")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_backends(pool: PgpoolSettings) -> int:
    """Block until REQUIRE_MIN_BACKENDS backends accept TCP or WAIT_BACKEND_TIMEOUT passes."""
    deadline = time.monotonic() + pool.wait_backend_timeout
    while True:
        up = sum(_reachable(b.host, b.port) for b in pool.backends)
        if up >= pool.require_min_backends or time.monotonic() >= deadline:
            return up
        time.sleep(1)


def exec_pgpool(pool: PgpoolSettings) -> NoReturn:
    up = wait_for_backends(pool)
    logger.info("%d of %d backends reachable; starting pgpool (every backend configured)", up, len(pool.backends))
    # -D: forget pgpool_status, so a restart never brings back a stale "down".
    argv = [PGPOOL, "-n", "-D", "-f", str(paths.PGPOOL_CONF), "-a", str(paths.POOL_HBA), "-F", str(paths.PCP_CONF)]
    os.execv(PGPOOL, argv)


def _pcp(pool: PgpoolSettings, command: str, *args: str) -> proc.Completed:
    return proc.run(
        [f"/usr/sbin/{command}", "-h", "localhost", "-p", str(paths.PCP_PORT), "-U", pool.pcp_user, "-w", *args],
        timeout=15,
        env={**os.environ, "PCPPASSFILE": str(paths.PCPPASS)},
    )


def attach(pool: PgpoolSettings, num: int) -> bool:
    return _pcp(pool, "pcp_attach_node", "-n", str(num)).ok


def detach(pool: PgpoolSettings, num: int) -> bool:
    return _pcp(pool, "pcp_detach_node", "-n", str(num)).ok


def promote(pool: PgpoolSettings, num: int) -> bool:
    """pgpool takes backend num as its primary (its own status only: the backend is primary already)."""
    return _pcp(pool, "pcp_promote_node", "-n", str(num)).ok


def apply_weights(settings: Settings, weights: dict[int, float]) -> bool:
    assert settings.pgpool is not None
    files.write_atomic(paths.PGPOOL_CONF, pgpool_conf(settings, weights), 0o644, "postgres", "postgres")
    return _pcp(settings.pgpool, "pcp_reload_config").ok
