"""`postdock backup ...`: the programs and commands of ROLE=barman."""

import click

from postdock_supervisor import logs
from postdock_supervisor.cli.common import CommandError, barman, load


@click.group()
def backup() -> None:
    """Backups of ROLE=barman."""


@backup.command()
def keeper() -> None:
    """Follow the primary, keep WAL streaming, take scheduled backups (a supervisor program)."""
    from postdock_supervisor.programs import backup_keeper

    settings = load()
    barman(settings)
    logs.setup(settings.common.log_level, "backup_keeper")
    backup_keeper.main(settings)


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
