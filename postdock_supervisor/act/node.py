"""Node operations: each one command or one SQL batch, run as the postgres user."""

import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from postdock_supervisor import db, files, paths, proc
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.errors import ActionError
from postdock_supervisor.model.node import format_lsn
from postdock_supervisor.observe.local import read_data_state, read_postgres_state
from postdock_supervisor.render.repmgr import host_aliases

logger = logging.getLogger(__name__)

# Set-up writes on a new primary must not wait for synchronous standbys that cannot exist yet.
LOCAL_COMMIT = {
    "PGOPTIONS": "-c synchronous_commit=local",
    "PATH": "/usr/bin:/bin",
    "HOME": "/var/lib/postgresql",
    "LANG": "C.UTF-8",
}


def repmgr(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> proc.Completed:
    return proc.run(
        [str(paths.PG_BIN / "repmgr"), "-f", str(paths.REPMGR_CONF), *args],
        timeout=timeout,
        env={**LOCAL_COMMIT, **(env or {})},
    )


def promote_standby(unreachable: Iterable[str] = ()) -> proc.Completed:
    """`repmgr standby promote`. Before promoting it looks for a running primary among every registered
    node, waiting CONNECT_TIMEOUT (2 s at least) for each one that drops packets; the approvals already
    proved that none of them holds a lease, so the names of nodes that did not answer a quick probe are
    made to fail resolution at once (glibc's HOSTALIASES, names without a dot only)."""
    aliases = host_aliases(unreachable)
    if not aliases:
        return repmgr("standby", "promote")
    files.write_atomic(paths.PROMOTE_ALIASES, aliases, 0o644)
    logger.info("repmgr's promotion skips unreachable %s", ", ".join(sorted(set(unreachable))))
    return repmgr("standby", "promote", env={"HOSTALIASES": str(paths.PROMOTE_ALIASES)})


def rerun_election() -> bool:
    """The last two steps of repmgrd's election, run as repmgrd runs them (its failover_validation_command,
    then its promote_command): True once this node was promoted. Their output goes to the log."""
    approved = proc.run([str(paths.POSTDOCK_CLI), "node", "approve-promotion"], timeout=120)
    if not approved.ok:
        logger.warning("the election's validation did not approve this node (code %d)", approved.returncode)
        return False
    promoted = proc.run([str(paths.POSTDOCK_CLI), "node", "promote"], timeout=300)
    if not promoted.ok:
        logger.warning("the promotion failed (code %d)", promoted.returncode)
    return promoted.ok


def wait_ready(pg: PostgresSettings, timeout: float = 120) -> None:
    """Until the local server answers SQL; raise if it does not within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_postgres_state(pg.port).running:
            return
        time.sleep(0.5)
    raise ActionError(f"postgres did not accept connections within {timeout:.0f}s")


def wait_registered(pg: PostgresSettings, timeout: float = 120) -> None:
    """Until this node's repmgr record has reached the local (standby) copy of the metadata:
    repmgrd reads it there and exits at once when it is missing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with db.connect(port=pg.port, dbname=pg.replication_db) as conn:
                if conn.execute("SELECT 1 FROM repmgr.nodes WHERE node_id = %s", (pg.node_id,)).fetchone():
                    return
        except psycopg.Error:
            pass  # restarting, or the extension not replayed yet: "not yet"
        time.sleep(0.2)
    raise ActionError(f"this node's repmgr record did not reach the local server within {timeout:.0f}s")


def start_postgres(supervisor: Supervisor, pg: PostgresSettings) -> None:
    if not supervisor.start("postgres"):
        raise ActionError("supervisord could not start postgres")
    wait_ready(pg)


BOOTSTRAP_SUPERUSER = "postgres"  # initdb's superuser: local peer login of the postgres account only


def initdb(pg: PostgresSettings) -> None:
    proc.run(
        [
            str(paths.PG_BIN / "initdb"),
            "-D",
            pg.pgdata,
            "--data-checksums",
            "-U",
            BOOTSTRAP_SUPERUSER,
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        timeout=300,
        check=True,
        env=LOCAL_COMMIT,
    )


def _role_sql(conn: psycopg.Connection[object], name: str, password: str, attributes: str) -> None:
    # The password is hashed here (SCRAM); the clear text never reaches the server or its logs.
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL("{} ROLE {} WITH " + attributes + " PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(name), sql.Literal(verifier)
        )
    )


def _ensure_database(conn: psycopg.Connection[object], name: str, owner: str) -> None:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))


NO_PRIVILEGES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def app_user_attributes(pg: PostgresSettings) -> str:
    """The application user logs in and owns its database; it is a superuser only when asked, or when
    it is `postgres`, initdb's bootstrap superuser, which PostgreSQL does not let lose the attribute."""
    if pg.postgres_user_superuser or pg.postgres_user == BOOTSTRAP_SUPERUSER:
        return "LOGIN SUPERUSER"
    return NO_PRIVILEGES


def create_cluster_roles(pg: PostgresSettings) -> None:
    with db.connect(port=pg.port, options="-c synchronous_commit=local") as conn:
        _role_sql(conn, pg.replication_user, pg.replication_password.reveal(), "LOGIN SUPERUSER REPLICATION")
        _ensure_database(conn, pg.replication_db, pg.replication_user)
        _role_sql(conn, pg.postgres_user, pg.postgres_password.reveal(), app_user_attributes(pg))
        # Owner of its database, and so of its public schema (pg_database_owner): it creates what it needs.
        _ensure_database(conn, pg.app_db, pg.postgres_user)
        if pg.check_user:
            # pgpool's checks read recovery state and WAL positions: pg_monitor, nothing more.
            _role_sql(conn, pg.check_user, pg.check_password.reveal(), NO_PRIVILEGES)
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(pg.check_user)))
        if pg.barman_user:
            _barman_role(conn, pg.barman_user, pg.barman_password.reveal())


# What barman's streaming backups need of a role that is no superuser (barman's own check asks for
# these): replication connections, reading settings and statistics, and the backup functions.
BARMAN_ROLES = ("pg_read_all_settings", "pg_read_all_stats", "pg_checkpoint")
BARMAN_FUNCTIONS = ("pg_backup_start(text, boolean)", "pg_backup_stop(boolean)", "pg_switch_wal()",
                    "pg_create_restore_point(text)")  # fmt: skip


def _barman_role(conn: psycopg.Connection[object], name: str, password: str) -> None:
    _role_sql(conn, name, password, NO_PRIVILEGES.replace("NOREPLICATION", "REPLICATION"))
    who = sql.Identifier(name)
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.SQL(", ").join(map(sql.Identifier, BARMAN_ROLES)), who))
    for function in BARMAN_FUNCTIONS:  # in database postgres, where barman connects
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_catalog.{} TO {}").format(sql.SQL(function), who))


def crash_recovery(pg: PostgresSettings) -> None:
    """A killed primary must finish crash recovery before pg_rewind can use it as a target."""
    state = read_data_state(pg.pgdata)
    if state.clean:
        return
    logger.info("data directory is '%s': running single-user crash recovery", state.cluster_state)
    proc.run(
        [
            str(paths.PG_BIN / "postgres"),
            "--single",
            "-D",
            pg.pgdata,
            "-c",
            f"config_file={paths.POSTGRESQL_CONF}",
            "-c",
            "shared_preload_libraries=",
            "postgres",
        ],
        timeout=600,
        check=True,
        env=LOCAL_COMMIT,
    )


def checkpoint_on(pg: PostgresSettings, host: str) -> None:
    """pg_rewind against a freshly promoted primary needs its end-of-recovery checkpoint done."""
    with db.connect(
        host=host, port=pg.port, user=pg.replication_user, dbname=pg.replication_db, timeout=pg.connect_timeout
    ) as conn:
        conn.execute("CHECKPOINT")


def wipe(pg: PostgresSettings, why: str) -> None:
    state = read_data_state(pg.pgdata)
    logger.warning(
        "discarding local data (%s): system %s, timeline %s, last checkpoint at %s",
        why,
        state.system_identifier or "?",
        state.timeline or "?",
        format_lsn(state.checkpoint_lsn),
    )
    for child in Path(pg.pgdata).iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    paths.STANDBY_DIVERGED.unlink(missing_ok=True)  # the marker is about the data just discarded


def clone(pg: PostgresSettings, host: str, upstream_id: int) -> None:
    done = repmgr(
        "-h",
        host,
        "-p",
        str(pg.port),
        "-U",
        pg.replication_user,
        "-d",
        pg.replication_db,
        "standby",
        "clone",
        "--fast-checkpoint",
        f"--upstream-node-id={upstream_id}",
        timeout=3600,
    )
    if not done.ok:
        raise ActionError(f"cloning from {host} failed")
