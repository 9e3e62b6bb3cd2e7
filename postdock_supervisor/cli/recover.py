"""`postdock recover` (barman container) and the node commands it runs over SSH."""

import os
import pwd

import click

from postdock_supervisor import logs
from postdock_supervisor.cli.common import CommandError, UsageProblem, barman, load, postgres
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.errors import PostdockError


def _postgres_settings() -> PostgresSettings:
    settings = load()
    logs.setup(settings.common.log_level, "restore")
    return postgres(settings)


@click.command()
@click.option("--reason", default="held by an operator", show_default=True, help="Shown in the node's status.")
@click.option("--wipe", is_flag=True, help="Also remove the data directory's content (the restore target).")
def hold(reason: str, wipe: bool) -> None:
    """Stop repmgrd and postgres and keep them stopped (used by `postdock recover`)."""
    from postdock_supervisor.programs import restore_node

    restore_node.hold(_postgres_settings(), reason, wipe)


@click.command(name="finish-restore")
@click.option("--timeout", default=3600, show_default=True, help="Seconds the WAL replay may take.")
def finish_restore(timeout: int) -> None:
    """Start the data barman restored, wait for the promotion, register it as the primary."""
    from postdock_supervisor.programs import restore_node

    try:
        restore_node.finish_restore(_postgres_settings(), float(timeout))
    except PostdockError as exc:
        raise CommandError(str(exc)) from None


@click.command()
def reclone() -> None:
    """Discard this node's data and clone the current primary again."""
    from postdock_supervisor.programs import restore_node

    restore_node.reclone(_postgres_settings())


def _as_postgres() -> None:
    """barman and the SSH key belong to postgres: a root caller (docker exec) becomes postgres."""
    if os.geteuid() != 0:
        return
    account = pwd.getpwnam("postgres")
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(HOME=account.pw_dir, USER="postgres", LOGNAME="postgres")


@click.command()
@click.option("--target-time", help="Restore to this moment (ISO 8601; no zone means UTC).")
@click.option("--target-lsn", help="Restore to this WAL position (e.g. 0/7000060).")
@click.option("--immediate", is_flag=True, help="Restore to the end of the base backup.")
@click.option("--latest", is_flag=True, help="Restore everything barman holds (after losing every node).")
@click.option("--backup-id", default="", help="Base backup to start from (default: the newest before the target).")
@click.option("--node", default="", help="Node that becomes the primary (default: the current primary).")
@click.option("--timeout", default=3600, show_default=True, help="Seconds each long step may take.")
@click.option("--from-cloud", is_flag=True, help="From the object store's copy (CLOUD_BACKUP_URL), not barman's own.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def recover(
    target_time: str | None,
    target_lsn: str | None,
    immediate: bool,
    latest: bool,
    backup_id: str,
    node: str,
    timeout: int,
    from_cloud: bool,
    yes: bool,
) -> None:
    """Restore the whole cluster to a moment from barman: one node restored and promoted, every
    other node re-cloned from it. Writes made after the target leave the cluster."""
    from postdock_supervisor.programs import recover as recover_mod
    from postdock_supervisor.programs import recover_cloud

    settings = load()
    bm = barman(settings, "recover")
    if not settings.common.ssh_enable:
        raise UsageProblem("SSH_ENABLE: found 0; expected 1 here and on the postgres nodes (recover uses SSH)")
    if sum(bool(x) for x in (target_time, target_lsn, immediate, latest)) != 1:
        raise UsageProblem("give exactly one of --target-time, --target-lsn, --immediate, --latest")
    logs.setup(settings.common.log_level, "recover")
    _as_postgres()
    try:
        target = recover_mod.Target(
            time=recover_mod.parse_time(target_time) if target_time else None,
            lsn=target_lsn or "",
            immediate=immediate,
        )
        if not yes:
            click.confirm(
                f"Restore the whole cluster to {target.describe()}? Every node's current data is replaced", abort=True
            )
        source = recover_cloud.CloudSource(bm) if from_cloud else None
        recover_mod.run(bm, target, backup_id, node, float(timeout), source)
    except PostdockError as exc:
        raise CommandError(str(exc)) from None
