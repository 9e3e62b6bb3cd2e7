"""repmgr.conf (repmgr 5.3 keys). Passwords come from the passfile, never a command line."""

from collections.abc import Iterable

from psycopg.conninfo import make_conninfo

from postdock_supervisor import paths
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.render.postgres import quote_conf
from postdock_supervisor.render.tls import client_options


def node_conninfo(pg: PostgresSettings, host: str, tls: bool = False) -> str:
    # Every node reaches this one with this string (repmgr stores it). A partition drops packets
    # without a reset, so a query in flight to a vanished node would wait for TCP's retransmission
    # limit (about 15 min): seen as a standby's repmgrd frozen mid-check and never promoting. The
    # user timeout and keepalives end such a connection within seconds.
    return make_conninfo(
        host=host,
        port=pg.port,
        user=pg.replication_user,
        dbname=pg.replication_db,
        connect_timeout=pg.connect_timeout,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=1,
        keepalives_count=3,
        tcp_user_timeout=5000,
        **client_options(tls),
    )


def repmgr_conf(settings: Settings) -> str:
    pg = settings.postgres
    assert pg is not None
    repmgr = f"{paths.PG_BIN}/repmgr -f {paths.REPMGR_CONF}"
    ctl = f"{paths.SUPERVISORCTL} -c {paths.SUPERVISOR_CONF}"
    values: list[tuple[str, str]] = [
        ("node_id", str(pg.node_id)),
        ("node_name", quote_conf(pg.node_name)),
        ("conninfo", quote_conf(node_conninfo(pg, pg.network_name, settings.common.tls))),
        ("data_directory", quote_conf(pg.pgdata)),
        ("pg_bindir", quote_conf(str(paths.PG_BIN))),
        ("passfile", quote_conf(str(paths.PGPASS))),
        ("use_replication_slots", "yes" if pg.use_slots else "no"),
        ("log_level", quote_conf(settings.common.log_level)),
        ("failover", "automatic"),
        # A cascaded standby is never promoted, even when repmgr has moved it under the primary (its
        # upstream was down): it holds no lease and is no member of the cluster.
        ("priority", "0" if pg.is_cascade else str(pg.priority)),
        # Promotes, then sets the synchronous standbys before anything else can commit unprotected.
        ("promote_command", quote_conf(f"{paths.POSTDOCK_CLI} node promote")),
        ("follow_command", quote_conf(f"{repmgr} standby follow --upstream-node-id=%n")),
        # supervisord owns the postmaster; repmgr asks it instead of calling pg_ctl.
        ("service_start_command", quote_conf(f"{ctl} start postgres")),
        ("service_stop_command", quote_conf(f"{ctl} stop postgres")),
        ("service_restart_command", quote_conf(f"{ctl} restart postgres")),
        ("service_reload_command", quote_conf(f"{ctl} signal HUP postgres")),
        # The candidate repmgrd elected defers to a preferred standby that holds its WAL, then waits
        # for a majority saying no lease is live (programs/approve.py); a refusal or a deferral reruns
        # the election on every standby a second later (a rerun also re-detects the failure: ~1 s).
        *(
            [
                ("failover_validation_command", quote_conf(f"{paths.POSTDOCK_CLI} node approve-promotion")),
                ("election_rerun_interval", "1"),
                ("primary_notification_timeout", "20"),
            ]
            if pg.lease_timeout
            else []
        ),
        ("connection_check_type", "'ping'"),
        ("monitor_interval_secs", str(pg.monitor_interval)),
        ("reconnect_attempts", str(pg.reconnect_attempts)),
        ("reconnect_interval", str(pg.reconnect_interval)),
        # Not primary_visibility_consensus: with 1 s monitoring a sibling that saw the primary
        # just before it died cancels the election, and repmgr 5.3 then never re-runs it.
        # repmgrd still requires a majority of visible nodes before promoting.
        # cluster matrix/crosscheck run repmgr on the other nodes over SSH (SSH_ENABLE=1).
        ("ssh_options", "'-q -o BatchMode=yes -o ConnectTimeout=5'"),
    ]
    return "# Rendered by postdock at every container start.\n" + "".join(f"{key}={value}\n" for key, value in values)


UNRESOLVABLE = "unreachable.invalid"  # RFC 6761: never resolves, and the resolver says so at once


def host_aliases(hosts: Iterable[str]) -> str:
    """A HOSTALIASES file (glibc: aliases for names without a dot) that makes these names fail to
    resolve at once. A dotted name cannot be aliased and is left out."""
    return "".join(f"{host} {UNRESOLVABLE}\n" for host in sorted(set(hosts)) if host and "." not in host)
