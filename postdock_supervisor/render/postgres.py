"""postgresql.conf, pg_hba.conf, pg_ident.conf and the passfile: pure text from Settings."""

import re

from postdock_supervisor import paths
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.sync import synchronous_commit

# A number with its unit, a bare word, or one whole quoted literal as postgres's lexer reads it.
BARE_CONF_VALUE = re.compile(r"^(-?[0-9.]+[A-Za-z]*|[A-Za-z_][A-Za-z0-9_$]*|'(?:[^'\\\n]|\\.|'')*')\Z")


def quote_conf(value: str) -> str:
    """A quoted literal for postgresql.conf, repmgr.conf and pgpool.conf: their lexers (the same one)
    take a backslash as an escape, so it is doubled, and a quote is doubled."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def conf_value(value: str) -> str:
    """A CONFIGS value as postgresql.conf syntax: numbers, bare words and quoted text stay as
    given; anything else (spaces, commas, colons...) is quoted."""
    return value if BARE_CONF_VALUE.match(value) else quote_conf(value)


def default_parameters(pg: PostgresSettings) -> dict[str, str]:
    """The image's defaults; every one can be replaced through CONFIGS (exact key match)."""
    return {
        "data_directory": quote_conf(pg.pgdata),
        "hba_file": quote_conf(str(paths.PG_HBA)),
        "ident_file": quote_conf(str(paths.PG_IDENT)),
        "listen_addresses": "'*'",
        "port": str(pg.port),
        "unix_socket_directories": quote_conf(str(paths.PG_SOCKET_DIR)),
        "max_connections": "200",
        "shared_preload_libraries": "'repmgr'",
        "password_encryption": "'scram-sha-256'",
        # logical: logical slots (and their failover to a promoted standby) need it.
        "wal_level": "logical",
        # pg_rewind needs hint bits logged; initdb also enables data checksums.
        "wal_log_hints": "on",
        "max_wal_senders": "16",
        "max_replication_slots": "16",
        "wal_keep_size": "'512MB'",
        # A slot of a vanished standby may not fill the primary's disk.
        "max_slot_wal_keep_size": "'8GB'",
        "hot_standby": "on",
        # Logical slots created with failover = true are copied to first-level standbys, so a
        # logical consumer continues on a promoted one (PostgreSQL 17; needs the standby's slot
        # on its upstream and hot_standby_feedback). A cascade syncs from a standby, which
        # PostgreSQL refuses, and is never promoted anyway.
        "sync_replication_slots": "on" if pg.use_slots and not pg.is_cascade else "off",
        "hot_standby_feedback": "on",
        # WAL summaries make block-level incremental base backups possible (INCREMENTAL_SCHEDULE);
        # standbys keep them too, so a promoted node can serve the next incremental one.
        "summarize_wal": "on",
        # synchronous_standby_names is kept by postdock on the primary (ALTER SYSTEM), from the
        # current membership; see decide/sync.py.
        "synchronous_commit": synchronous_commit(pg.consistency_mode),
        "wal_receiver_status_interval": "'1s'",
        "wal_sender_timeout": "'10s'",
        "wal_receiver_timeout": "'10s'",
        "wal_retrieve_retry_interval": "'1s'",
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
        "logging_collector": "off",
        "log_destination": "'stderr'",
        "log_line_prefix": "'%m [%p] %q%u@%d '",
        "log_connections": "off",
    }


def _preload(value: str, extra: tuple[str, ...]) -> str:
    """repmgr first, then PRELOAD_LIBRARIES, then what CONFIGS asked for; each once."""
    given = [lib.strip() for lib in value.strip().strip("'").split(",") if lib.strip()]
    return quote_conf(",".join(dict.fromkeys(["repmgr", *extra, *given])))


def tls_parameters() -> dict[str, str]:
    """TLS=1: the certificate the node issued itself at start (read again on every reload)."""
    return {
        "ssl": "on",
        "ssl_cert_file": quote_conf(str(paths.TLS_CERT)),
        "ssl_key_file": quote_conf(str(paths.TLS_KEY)),
        "ssl_ca_file": quote_conf(str(paths.TLS_CA)),
        "ssl_min_protocol_version": "'TLSv1.2'",
    }


def postgresql_conf(settings: Settings) -> str:
    pg = settings.postgres
    assert pg is not None
    parameters = default_parameters(pg)
    if settings.common.tls:
        parameters.update(tls_parameters())
    overridden = {key: conf_value(value) for key, value in settings.configs}
    parameters.update(overridden)
    parameters["shared_preload_libraries"] = _preload(
        parameters["shared_preload_libraries"] if "shared_preload_libraries" in overridden else "", pg.preload_libraries
    )
    lines = ["# Rendered by postdock at every container start; set values through CONFIGS."]
    for key, value in parameters.items():
        origin = "  # CONFIGS" if key in overridden else ""
        lines.append(f"{key} = {value}{origin}")
    lines.append("# Mounted extra settings, last so they win; changes there are applied by reload.")
    lines.append(f"include_dir = {quote_conf(pg.conf_dir)}")
    return "\n".join(lines) + "\n"


def pg_hba_conf(settings: Settings) -> str:
    pg = settings.postgres
    assert pg is not None
    # ALLOWED_NETWORKS (the private ranges by default, or samenet), never 'all'.
    lines = [
        "# Rendered by postdock. Password auth (scram-sha-256) on every TCP line; no trust over TCP.",
        "# TYPE  DATABASE     USER                 ADDRESS        METHOD",
        "local   all          postgres                            peer",
        "local   all          all                                 scram-sha-256",
        "host    all          all                  127.0.0.1/32   scram-sha-256",
        "host    all          all                  ::1/128        scram-sha-256",
    ]
    # TLS=1: a client from the network without TLS matches no line, so it is refused (loopback
    # stays inside the container).
    kind = "hostssl" if settings.common.tls else "host   "
    streamers = [pg.replication_user, *([pg.barman_user] if pg.barman_user else [])]
    lines += [
        f"{kind} replication  {user:<20} {net:<14} scram-sha-256" for user in streamers for net in pg.allowed_networks
    ]
    lines += [f"{kind} all          all                  {net:<14} scram-sha-256" for net in pg.allowed_networks]
    return "\n".join(lines) + "\n"


def pg_ident_conf(settings: Settings) -> str:
    return "# Rendered by postdock; no user name maps.\n"


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass(settings: Settings) -> str:
    pg = settings.postgres
    assert pg is not None
    return pgpass_lines(
        {pg.replication_user: pg.replication_password.reveal(), pg.postgres_user: pg.postgres_password.reveal()}
    )


def pgpass_lines(entries: dict[str, str]) -> str:
    """One line per user, any host, port and database (replication connections included)."""
    return "".join(f"*:*:*:{_pgpass_field(user)}:{_pgpass_field(password)}\n" for user, password in entries.items())
