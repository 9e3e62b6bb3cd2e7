"""`postdock backup ...`: the programs and commands of ROLE=barman."""

import sys

import click

from postdock_supervisor import logs
from postdock_supervisor.config import Settings
from postdock_supervisor.config.barman import BarmanSettings


def _barman(settings: Settings) -> BarmanSettings:
    if settings.barman is None:
        click.echo("postdock: ROLE: this command runs in the barman container (ROLE=barman)", err=True)
        sys.exit(2)
    return settings.barman


@click.group()
def backup() -> None:
    """Backups of ROLE=barman."""


@backup.command()
def keeper() -> None:
    """Follow the primary, keep WAL streaming, take scheduled backups (a supervisor program)."""
    from postdock_supervisor import backup_keeper
    from postdock_supervisor.cli import _settings

    settings = _settings()
    logs.setup(settings.common.log_level, "backup_keeper")
    backup_keeper.run(_barman(settings))


@backup.command()
@click.option("--incremental", is_flag=True, help="Only the blocks changed since the newest backup (PostgreSQL 17).")
def take(incremental: bool) -> None:
    """Take a base backup now (barman's output is shown), then close its last WAL segment."""
    from postdock_supervisor.act import barman as act
    from postdock_supervisor.cli import _settings

    settings = _settings()
    logs.setup(settings.common.log_level, "backup")
    sys.exit(0 if act.take_backup(_barman(settings), incremental) else 1)
