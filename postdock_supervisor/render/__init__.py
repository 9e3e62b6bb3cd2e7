"""Every file a container needs, rendered as data: pure functions of Settings."""

from dataclasses import dataclass
from pathlib import Path

from postdock_supervisor import paths, roles
from postdock_supervisor.config import Role, Settings
from postdock_supervisor.render.barman import aws_credentials, barman_conf, barman_pgpass, server_conf
from postdock_supervisor.render.pgpool import pgpool_conf, pool_hba_conf
from postdock_supervisor.render.postgres import pg_hba_conf, pg_ident_conf, pgpass, postgresql_conf
from postdock_supervisor.render.repmgr import repmgr_conf
from postdock_supervisor.render.ssh import authorized_keys, known_hosts, ssh_client_config, sshd_config
from postdock_supervisor.render.supervisord import supervisord_conf


@dataclass(frozen=True)
class RenderedFile:
    path: Path
    content: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"


def _context(settings: Settings) -> dict[str, str]:
    return {"pgdata": settings.postgres.pgdata if settings.postgres else ""}


def render_all(settings: Settings) -> tuple[RenderedFile, ...]:
    files = [RenderedFile(paths.SUPERVISOR_CONF, supervisord_conf(roles.programs_for(settings), _context(settings)))]
    if settings.role is Role.POSTGRES:
        files += [
            RenderedFile(paths.POSTGRESQL_CONF, postgresql_conf(settings), 0o644, "postgres", "postgres"),
            RenderedFile(paths.PG_HBA, pg_hba_conf(settings), 0o640, "postgres", "postgres"),
            RenderedFile(paths.PG_IDENT, pg_ident_conf(settings), 0o640, "postgres", "postgres"),
            RenderedFile(paths.REPMGR_CONF, repmgr_conf(settings), 0o644, "postgres", "postgres"),
            RenderedFile(paths.PGPASS, pgpass(settings), 0o600, "postgres", "postgres"),
        ]
    if settings.role is Role.PGPOOL:
        files += [
            RenderedFile(paths.PGPOOL_CONF, pgpool_conf(settings), 0o644, "postgres", "postgres"),
            RenderedFile(paths.POOL_HBA, pool_hba_conf(settings), 0o644, "root", "postgres"),
        ]
    if settings.barman is not None:
        bm = settings.barman
        files += [
            RenderedFile(paths.BARMAN_CONF, barman_conf(settings)),
            # Points at the first node until the backup keeper finds the primary.
            RenderedFile(paths.BARMAN_SERVERS / f"{bm.server}.conf", server_conf(bm, bm.hosts[0]), 0o644, "postgres"),
            RenderedFile(paths.PGPASS, barman_pgpass(settings), 0o600, "postgres", "postgres"),
        ]
        if bm.cloud_key_id.reveal():
            files.append(RenderedFile(paths.AWS_CREDENTIALS, aws_credentials(bm), 0o600, "postgres", "postgres"))
    if settings.ssh_key is not None:
        files += [
            RenderedFile(paths.SSHD_CONF, sshd_config(settings)),
            RenderedFile(paths.SSH_CLIENT_CONF, ssh_client_config(settings)),
            RenderedFile(paths.SSH_KNOWN_HOSTS, known_hosts(settings)),
            RenderedFile(paths.SSH_AUTHORIZED_DIR / "postgres", authorized_keys(settings)),
        ]
    return tuple(files)
