"""pgpool.conf, pool_hba.conf, pcp.conf and the PCP passfile: pure text from Settings.

pgpool finds the primary itself (streaming-replication mode, failover_command empty): repmgr
promotes, pgpool detaches the dead node and searches until the promoted one answers writable.
No password is written here: pgpool takes them from pool_passwd (built at start with pg_enc)."""

import hashlib
from collections.abc import Mapping

from postdock_supervisor import paths
from postdock_supervisor.config import Backend, PgpoolSettings, Settings
from postdock_supervisor.config.modes import Mode
from postdock_supervisor.render.postgres import BARE_CONF_VALUE


def quote_conf(value: str) -> str:
    """A quoted literal for pgpool.conf, whose lexer keeps a backslash and cannot hold a quote:
    configuration refuses both in the values that reach this file (config/loader.py)."""
    if "'" in value or "\\" in value or "\n" in value:
        raise ValueError(f"pgpool.conf cannot hold {value!r}")
    return f"'{value}'"


def conf_value(value: str) -> str:
    """A CONFIGS value: numbers, bare words and a whole quoted text stay as given; anything else is quoted."""
    return value if BARE_CONF_VALUE.match(value) else quote_conf(value)


def default_parameters(pool: PgpoolSettings) -> dict[str, str]:
    """The image's defaults; CONFIGS replaces any of them by exact key."""
    return {
        "backend_clustering_mode": "'streaming_replication'",
        "listen_addresses": "'*'",
        "port": str(paths.PGPOOL_PORT),
        "unix_socket_directories": quote_conf(str(paths.PG_SOCKET_DIR)),  # socket_dir before pgpool-II 4.4
        "pcp_listen_addresses": "'*'",
        "pcp_port": str(paths.PCP_PORT),
        "pcp_socket_dir": quote_conf(str(paths.PG_SOCKET_DIR)),
        "enable_pool_hba": "on",
        "pool_passwd": quote_conf(str(paths.POOL_PASSWD)),
        "allow_clear_text_frontend_auth": "off",
        # Pool size: 32 clients x 2 cached backend connections stays far below max_connections (200).
        "num_init_children": "32",
        "max_pool": "2",
        "child_life_time": "300",
        "connection_life_time": "0",
        "log_destination": "'stderr'",
        "log_line_prefix": "'%m: %a pid %p: '",
        "logdir": quote_conf(str(paths.RUN)),
        "pid_file_name": quote_conf(str(paths.RUN / "pgpool.pid")),
        "load_balance_mode": "on",
        # A session that has written reads from the primary until its transaction ends.
        "disable_load_balance_on_write": "'transaction'",
        "sr_check_period": "1",
        "sr_check_user": quote_conf(pool.check_user),
        "sr_check_password": "''",
        "sr_check_database": "'postgres'",
        "delay_threshold": str(pool.max_read_lag),
        # pgpool takes no failover decision of its own: a stall or a blip between pgpool and the
        # primary would detach it and leave pgpool searching for a primary long after it is back.
        # The pool keeper follows repmgr's decisions through PCP instead (decide/pool.py).
        "health_check_period": "0",
        "health_check_timeout": "2",
        "health_check_user": quote_conf(pool.check_user),
        "health_check_password": "''",
        "health_check_database": "'postgres'",
        "connect_timeout": "2000",
        "failover_command": "''",
        "follow_primary_command": "''",
        "failover_on_backend_error": "off",
        "failover_on_backend_shutdown": "off",
        # Two writable backends: the one the standbys stream from is the primary, the other is
        # detached (an isolated old primary never gets writes).
        "detach_false_primary": "on",
        "search_primary_node_timeout": "0",
        # postdock's pool keeper re-attaches recovered nodes (it knows them by host, pgpool's
        # auto_failback would need repmgr's application names).
        "auto_failback": "off",
    }


def backend_lines(backend: Backend, weight: float) -> list[str]:
    n = backend.num
    return [
        f"backend_hostname{n} = {quote_conf(backend.host)}",
        f"backend_port{n} = {backend.port}",
        f"backend_weight{n} = {weight:g}",
        f"backend_data_directory{n} = {quote_conf(backend.data_directory)}",
        f"backend_flag{n} = {quote_conf(backend.flag)}",
    ]


def initial_weight(pool: PgpoolSettings, backend: Backend) -> float:
    # strict: no standby serves reads until the pool keeper has seen it in the synchronous set.
    return 0.0 if pool.consistency_mode is Mode.STRICT else backend.weight


def pgpool_conf(settings: Settings, weights: Mapping[int, float] | None = None) -> str:
    """weights: the pool keeper's current read weights by backend number (None: as at start)."""
    pool = settings.pgpool
    assert pool is not None
    parameters = default_parameters(pool)
    if settings.common.tls:
        parameters.update(tls_parameters())
    for key, value in settings.configs:
        parameters[key] = conf_value(value)
    lines = [
        "# Rendered by postdock at every start (and by its pool keeper); edits are lost.",
        "# Image defaults and CONFIGS (exact keys):",
    ]
    lines += [f"{key} = {value}" for key, value in parameters.items()]
    lines.append("# BACKENDS:")
    for backend in pool.backends:
        weight = weights.get(backend.num, 0.0) if weights is not None else initial_weight(pool, backend)
        lines += backend_lines(backend, weight)
    return "\n".join(lines) + "\n"


def pool_hba_conf(settings: Settings) -> str:
    # TLS=1: a TCP client without TLS matches no line, so it is refused.
    kind = "hostssl" if settings.common.tls else "host   "
    return (
        "# Rendered by postdock: scram-sha-256 for every client, local or remote.\n"
        "local   all  all                 scram-sha-256\n"
        f"{kind} all  all  0.0.0.0/0      scram-sha-256\n"
        f"{kind} all  all  ::/0           scram-sha-256\n"
    )


def tls_parameters() -> dict[str, str]:
    """TLS=1: pgpool speaks TLS to its clients and to the backends (pgpool-II's `ssl` covers both)."""
    return {
        "ssl": "on",
        "ssl_cert": quote_conf(str(paths.TLS_CERT)),
        "ssl_key": quote_conf(str(paths.TLS_KEY)),
        "ssl_ca_cert": quote_conf(str(paths.TLS_CA)),
    }


def pcp_conf(user: str, password: str) -> str:
    # pcp.conf holds md5(password) in hex, what pg_md5 prints.
    return f"{user}:{hashlib.md5(password.encode()).hexdigest()}\n"


def pcppass(user: str, password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:{paths.PCP_PORT}:{user}:{escaped}\n"
