"""The `postdock` command."""

import json
import os
import socket
import sys
import time

import click

from postdock_supervisor import __version__, config, logs
from postdock_supervisor.cli.common import UsageProblem, load


@click.group()
@click.version_option(__version__)
def main() -> None:
    """postdock: one image for a PostgreSQL HA cluster (ROLE=postgres|pgpool|barman)."""


@main.command()
def entrypoint() -> None:
    """Container start: validate the environment, render configuration, exec supervisord."""
    from postdock_supervisor.programs import entrypoint as ep

    ep.main(config.process_env(), socket.gethostname())


@main.group(name="config")
def config_group() -> None:
    """Check or show the configuration taken from the environment."""


@config_group.command()
def validate() -> None:
    """Exit 0 if the environment is valid; else print every problem, one line each, exit 2."""
    load(read_ssh_key=True)
    click.echo("configuration is valid")


@config_group.command()
def show() -> None:
    """Print every variable's effective value; secrets masked."""
    for name, value in config.describe(load()):
        click.echo(f"{name}={value}")


@main.command()
@click.option("--liveness", is_flag=True, help="Only what a restart cures (for liveness probes).")
def health(liveness: bool) -> None:
    """Exit 0 when this container is healthy (ready); print why not otherwise."""
    from postdock_supervisor import health as health_mod

    settings = load()
    result = health_mod.check_liveness(settings) if liveness else health_mod.check(settings)
    click.echo(result.reason)
    sys.exit(0 if result.ok else 1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(as_json: bool) -> None:
    """The cluster as a table: every node, its role, upstream, state, timeline and lag."""
    from postdock_supervisor import status as status_mod
    from postdock_supervisor.observe.local import repmgr_hosts
    from postdock_supervisor.observe.peers import fetch_reports

    settings = load()
    if settings.barman is not None:
        # On barman: its backups and the WAL archive's continuity (the nodes are shown on any node).
        summary = status_mod.barman_status(settings.barman, time.time())
        click.echo(json.dumps(summary, indent=2) if as_json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
        return
    if settings.pgpool is not None:
        # On pgpool: every backend's agent, and pgpool's own view of it.
        from postdock_supervisor.observe.pool import pool_nodes_or_none

        reports = fetch_reports([b.host for b in settings.pgpool.backends], settings.common.status_port)
        view = {n.host: n.status for n in pool_nodes_or_none(settings.pgpool) or ()}
        rows = status_mod.with_pool_view(status_mod.rows(reports), view)
        click.echo(json.dumps(rows, indent=2) if as_json else status_mod.table(rows))
        return
    pg = settings.postgres
    assert pg is not None
    # Cascaded nodes are not partners: repmgr's metadata names them.
    # Every report, this node's included, comes from the nodes' agents (they run as postgres).
    hosts = [pg.network_name, *pg.partner_nodes, *repmgr_hosts(pg)]
    reports = fetch_reports(hosts, settings.common.status_port)
    rows = status_mod.rows(reports)
    click.echo(json.dumps(rows, indent=2) if as_json else status_mod.table(rows))


@main.command()
@click.option("--to", "target", default=None, help="The standby to promote (default: the most advanced).")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for every node to follow.")
def switchover(target: str | None, timeout: int) -> None:
    """Planned switchover without SSH: the old primary becomes a standby of the new one."""
    from postdock_supervisor.programs import switchover as switchover_mod

    settings = load()
    logs.setup("WARNING", "switchover")
    port = settings.common.status_port
    if settings.postgres is not None:
        pg = settings.postgres
        sys.exit(switchover_mod.run(pg.partner_nodes, pg.control, port, target, click.echo,
                                    timeout))  # fmt: skip
    # pgpool and barman: a node carries it out; the request is signed with CONTROL_KEY (or REPLICATION_PASSWORD).
    if settings.pgpool is not None:
        hosts, key = tuple(b.host for b in settings.pgpool.backends), settings.pgpool.control
    else:
        assert settings.barman is not None
        hosts, key = settings.barman.hosts, settings.barman.control
    if not key.sign:
        raise UsageProblem("CONTROL_KEY: not set in this container (nor REPLICATION_PASSWORD); it signs the "
                           "switchover request")  # fmt: skip
    sys.exit(switchover_mod.delegate(hosts, key, port, target, click.echo, timeout))


@main.group()
def node() -> None:
    """Programs supervisord runs on a postgres node."""


@node.command()
def bootstrap() -> None:
    """Decide this node's role and bring it up (a one-shot supervisor program)."""
    from postdock_supervisor.programs import bootstrap as bootstrap_mod

    settings = load()
    logs.setup(settings.common.log_level, "bootstrap")
    bootstrap_mod.run(settings)


@node.command()
def promote() -> None:
    """repmgr's promote_command: promote this standby, then set its synchronous standbys at once."""
    from postdock_supervisor.programs import promote as promote_mod

    settings = load()
    logs.setup(settings.common.log_level, "promote")
    sys.exit(promote_mod.main(settings))


@node.command(name="fence-keeper")
def fence_keeper() -> None:
    """Stop taking writes when this primary cannot reach a majority (a supervisor program)."""
    from postdock_supervisor.programs import fence_keeper as keeper

    settings = load()
    logs.setup(settings.common.log_level, "fence_keeper")
    keeper.main(settings)


@node.command(name="lease-keeper")
def lease_keeper() -> None:
    """Renew this primary's quorum lease; hold every commit before it lapses (a supervisor program)."""
    from postdock_supervisor.programs import lease_keeper as keeper

    settings = load()
    logs.setup(settings.common.log_level, "lease_keeper")
    keeper.main(settings)


@node.command(name="approve-promotion")
def approve_promotion() -> None:
    """repmgr's failover_validation_command: exit 0 once enough nodes approve this node's promotion."""
    from postdock_supervisor.programs import approve

    settings = load()
    logs.setup(settings.common.log_level, "approve")
    code = approve.main(settings)
    sys.stdout.flush()
    sys.stderr.flush()
    # repmgrd waits for this process to end, and a normal exit would first wait out the requests
    # still pending to a node that drops packets (up to their timeout): the verdict is already out.
    os._exit(code)


@node.command()
def handover() -> None:
    """Wait for the container's stop, then hand the primary role over (a supervisor program)."""
    from postdock_supervisor.programs import handover as handover_mod

    settings = load()
    logs.setup(settings.common.log_level, "handover")
    handover_mod.main(settings)


@main.command()
def agent() -> None:
    """Serve this node's status report to partners (a supervisor program)."""
    from postdock_supervisor.programs import agent as agent_mod

    settings = load()
    logs.setup(settings.common.log_level, "agent")
    agent_mod.serve(settings)


@main.command()
def exporter() -> None:
    """Serve Prometheus metrics on EXPORTER_PORT (a supervisor program)."""
    from postdock_supervisor import metrics

    settings = load()
    logs.setup(settings.common.log_level, "exporter")
    metrics.serve(settings)


@main.command(name="postgres-exporter")
def postgres_exporter() -> None:
    """Run the community postgres_exporter on the local socket (a supervisor program)."""
    import os

    from psycopg.conninfo import make_conninfo

    from postdock_supervisor import paths

    settings = load()
    assert settings.postgres is not None
    # Peer authentication over the socket: no password in the environment, the command line or a file.
    env = {
        **os.environ,
        "DATA_SOURCE_NAME": make_conninfo(
            host=str(paths.PG_SOCKET_DIR),
            port=settings.postgres.port,
            user="postgres",
            dbname="postgres",
            sslmode="disable",
        ),
    }
    binary = "/usr/bin/prometheus-postgres-exporter"
    os.execve(binary, [binary, f"--web.listen-address=:{settings.postgres.postgres_exporter_port}"], env)


@main.group()
def pool() -> None:
    """Programs supervisord runs on a pgpool container."""


@pool.command(name="run")
def pool_run() -> None:
    """Wait for REQUIRE_MIN_BACKENDS backends, then exec pgpool (a supervisor program)."""
    from postdock_supervisor.act import pgpool

    settings = load()
    logs.setup(settings.common.log_level, "pgpool")
    assert settings.pgpool is not None
    pgpool.exec_pgpool(settings.pgpool)


@pool.command()
def keeper() -> None:
    """Re-attach recovered backends and keep read weights right (a supervisor program)."""
    from postdock_supervisor.programs import pool_keeper

    settings = load()
    logs.setup(settings.common.log_level, "pool_keeper")
    pool_keeper.main(settings)


LISTENERS = {
    "crash-guard": "postdock_supervisor.programs.crash_guard",
    "sync-keeper": "postdock_supervisor.programs.sync_keeper",
    "conf-reload": "postdock_supervisor.programs.conf_reload",
    "role-check": "postdock_supervisor.programs.role_check",
    "tls-keeper": "postdock_supervisor.programs.tls_keeper",
    "ssh-keeper": "postdock_supervisor.programs.ssh_keeper",
}
READS_KEYS = {"ssh-keeper"}  # runs as root and signs with the mounted host authority


@main.command(name="watch-conf")
def watch_conf() -> None:
    """Watch the mounted configuration directory (a capture-mode supervisor program)."""
    from postdock_supervisor.programs import conf_watch

    settings = load()
    logs.setup(settings.common.log_level, "conf_watch")
    assert settings.postgres is not None
    conf_watch.watch(settings.postgres.conf_dir)


@main.command()
@click.argument("name", type=click.Choice(sorted(LISTENERS)))
def listen(name: str) -> None:
    """Run an event listener (supervisord starts these)."""
    import importlib

    settings = load(read_ssh_key=name in READS_KEYS)
    logs.setup(settings.common.log_level, name)
    importlib.import_module(LISTENERS[name]).main(settings)


@main.group()
def docs() -> None:
    """Generated documentation."""


@docs.command(name="env")
def docs_env() -> None:
    """Print the README's table of environment variables."""
    from postdock_supervisor import docs as docs_mod

    click.echo(docs_mod.env_table())


def _register() -> None:
    from postdock_supervisor.cli.backup import backup
    from postdock_supervisor.cli.recover import finish_restore, hold, reclone, recover

    main.add_command(backup)
    main.add_command(recover)
    for command in (hold, finish_restore, reclone):
        node.add_command(command)


_register()
