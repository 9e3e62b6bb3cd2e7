"""`postdock backup ...`: the programs and commands of ROLE=barman."""

import sys

import click

from postdock_supervisor import logs
from postdock_supervisor.cli.common import CommandError, barman, load


@click.group()
def backup() -> None:
    """Backups of ROLE=barman."""


def _program(name: str) -> None:
    """A supervisor program of ROLE=barman (programs/<name>.py): the role checked, its log set up, run."""
    import importlib

    settings = load()
    barman(settings)
    logs.setup(settings.common.log_level, name)
    importlib.import_module(f"postdock_supervisor.programs.{name}").main(settings)


@backup.command()
def keeper() -> None:
    """Follow the primary, keep WAL streaming, take scheduled backups (a supervisor program)."""
    _program("backup_keeper")


@backup.command()
@click.option("--incremental", is_flag=True, help="Only the blocks changed since the newest backup (PostgreSQL 17).")
def take(incremental: bool) -> None:
    """Take a base backup now (barman's output is shown), then close its last WAL segment."""
    from postdock_supervisor.act import barman as act

    settings = load()
    bm = barman(settings)
    logs.setup(settings.common.log_level, "backup")
    if not act.take_backup(bm, incremental):
        raise CommandError("the base backup failed (barman's output above says why)")


@backup.command(name="drill-keeper")
def drill_keeper() -> None:
    """Restore the newest backup whenever a drill is due, to prove it (a supervisor program)."""
    _program("drill_keeper")


@backup.command(name="offsite-keeper")
def offsite_keeper() -> None:
    """Copy the newest full backup to the object store of CLOUD_BACKUP_URL (a supervisor program)."""
    _program("offsite_keeper")


@backup.command(name="offsite-wal")
def offsite_wal() -> None:
    """barman's pre-archive hook: copy the WAL segment it names to the object store (exit 62 lets barman
    archive it locally anyway after failed tries)."""
    import os

    from postdock_supervisor.act import offsite
    from postdock_supervisor.config.barman import wal_hook_segment

    settings = load()
    bm = barman(settings)
    logs.setup(settings.common.log_level, "offsite_wal")
    sys.exit(offsite.copy_wal(bm, dict(os.environ), wal_hook_segment(os.environ)))


@backup.command()
@click.option(
    "--from-cloud", is_flag=True, help="The newest backup in the object store (CLOUD_BACKUP_URL), with its WAL."
)
@click.option("--backup-id", default="", help="This DONE backup instead of the newest (not with --from-cloud).")
def drill(from_cloud: bool, backup_id: str) -> None:
    """Restore the newest backup now into a scratch copy, start it, read every table, remove it."""
    from postdock_supervisor.act.drill import DrillBusy
    from postdock_supervisor.programs.drill_keeper import drill_now, offsite_drill

    if from_cloud and backup_id:
        raise click.UsageError("--backup-id: the off-site drill restores the newest copied backup")
    settings = load()
    bm = barman(settings)
    logs.setup(settings.common.log_level, "drill")
    try:
        record = offsite_drill(bm) if from_cloud else drill_now(bm, "asked for by hand", backup_id)
    except DrillBusy as exc:
        raise CommandError(str(exc)) from None
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in record.step_seconds())
    click.echo(
        f"restore drill {'passed' if record.ok else 'FAILED'} in {record.seconds:.1f}s ({steps}): {record.reason}"
    )
    if not record.ok:
        raise CommandError("the restore drill failed")
