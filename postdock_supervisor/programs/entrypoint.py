"""The container's start: validate, render, hand secrets over as files, exec supervisord.

Nothing is written before the configuration has validated."""

import grp
import json
import logging
import os
import pwd
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from postdock_supervisor import files, paths, render
from postdock_supervisor.act import pgpool, ssh, tls
from postdock_supervisor.act.phase import set_phase
from postdock_supervisor.config import Role, Settings, load_settings, secret_names
from postdock_supervisor.errors import ActionError, ConfigError
from postdock_supervisor.observe.local import read_data_version
from postdock_supervisor.render.tls import client_environment

logger = logging.getLogger(__name__)


def child_environment(env: Mapping[str, str], role: Role, tls: bool = False) -> dict[str, str]:
    """Secrets leave the environment every program inherits: this role's are passed as NAME_FILE,
    any other role's (a shared env file sets them all) are dropped. With TLS, libpq's defaults
    verify every server."""
    child = {**dict(env), **client_environment(tls)}
    for name in secret_names(role):
        value = child.pop(name, "")
        if value:
            path = paths.SECRETS / name
            files.write_atomic(path, value, 0o640, "root", "postgres")
            child[f"{name}_FILE"] = str(path)
    others = {name for other in Role for name in secret_names(other)} - set(secret_names(role))
    for name in others:
        child.pop(name, None)
    return child


def root_directory(path: Path) -> None:
    """Root's own directory, readable by the postgres group (supervisord's socket is reached through
    it), writable by root alone. /run belongs to root, so postgres cannot have planted it."""
    path.mkdir(mode=0o750, exist_ok=True)
    os.chown(path, 0, grp.getgrnam("postgres").gr_gid, follow_symlinks=False)
    path.chmod(0o750)


def own_directory(path: Path, mode: int) -> None:
    """The directory exists and postgres owns it (a fresh volume comes owned by root)."""
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_uid != pwd.getpwnam("postgres").pw_uid:
        for root, dirs, names in os.walk(path):
            for name in [*dirs, *names]:
                shutil.chown(os.path.join(root, name), "postgres", "postgres")
        shutil.chown(path, "postgres", "postgres")
    path.chmod(mode)


def prepare_data_directory(pgdata: str) -> None:
    path = Path(pgdata)
    own_directory(path, 0o700)
    # supervisord starts no postmaster before bootstrap, so any pid file is stale; a live PID
    # reused by another process in this container would otherwise block the start.
    (path / "postmaster.pid").unlink(missing_ok=True)
    for lock in paths.PG_SOCKET_DIR.glob(".s.PGSQL.*.lock"):
        lock.unlink(missing_ok=True)


def prepare(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    for rendered in render.render_all(settings):
        files.write_atomic(rendered.path, rendered.content, rendered.mode, rendered.owner, rendered.group)
    paths.RUN.mkdir(parents=True, exist_ok=True)
    shutil.chown(paths.RUN, "postgres", "postgres")
    root_directory(paths.ROOT_RUN)
    set_phase("starting", "container started", owner="postgres")
    if settings.postgres is not None:
        prepare_data_directory(settings.postgres.pgdata)
        # include_dir needs the directory; a mounted one is used as it is.
        Path(settings.postgres.conf_dir).mkdir(parents=True, exist_ok=True)
    if settings.pgpool is not None:
        pgpool.write_credentials(settings.pgpool)
    if settings.barman is not None:
        own_directory(Path(settings.barman.backup_dir), 0o750)
        own_directory(paths.BARMAN_LOG.parent, 0o750)
        own_directory(paths.BARMAN_SERVERS, 0o755)
    if settings.ssh_key is not None:
        ssh.prepare_host_identity(settings)
    child = child_environment(env, settings.role, settings.common.tls)
    if settings.barman is not None and settings.barman.cloud_key_id.reveal():
        # boto3 reads the pair from the rendered file (both variables left the environment as secrets).
        child["AWS_SHARED_CREDENTIALS_FILE"] = str(paths.AWS_CREDENTIALS)
    saved = {k: v for k, v in child.items() if k not in ("HOME", "HOSTNAME", "PATH", "PWD", "TERM")}
    files.write_atomic(paths.SAVED_ENV, json.dumps(saved), 0o640, "root", "postgres")
    return child


def prepare_tls(settings: Settings) -> None:
    """A database node and pgpool serve TLS with the certificate given for them or one issued now;
    barman only verifies."""
    if settings.barman is not None:
        tls.install_ca(Path(settings.common.tls_dir))
        return
    tls.provide_own(settings)


def version_problem(pgdata: str, found: str | None) -> str | None:
    """A data directory of another PostgreSQL major version is refused before anything touches it:
    this image's postgres cannot open it, and a re-clone would destroy it."""
    if found is None or found == str(paths.PG_MAJOR):
        return None
    return (
        f"PGDATA: found a PostgreSQL {found!r} data directory at {pgdata} (PG_VERSION), but this image runs "
        f"PostgreSQL {paths.PG_MAJOR}; nothing in it was changed. Move the data with pg_dumpall into a new "
        f"volume (README: Upgrading from PostgreSQL 15) or run the image that matches it"
    )


def main(env: Mapping[str, str], hostname: str) -> NoReturn:
    try:
        settings = load_settings(env, hostname, read_ssh_key=True)
        if settings.postgres is not None:
            problem = version_problem(settings.postgres.pgdata, read_data_version(settings.postgres.pgdata))
            if problem:
                raise ConfigError([problem])
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"postdock: {problem}", file=sys.stderr)
        sys.exit(2)
    if settings.common.tls:
        try:  # first: a CA that cannot sign stops the start before anything else is written
            prepare_tls(settings)
        except (ActionError, OSError) as exc:
            print(f"postdock: TLS_DIR: {exc}", file=sys.stderr)
            sys.exit(2)
    child_env = prepare(settings, env)
    sys.stdout.flush()
    os.execvpe("supervisord", ["supervisord", "-n", "-c", str(paths.SUPERVISOR_CONF)], child_env)
