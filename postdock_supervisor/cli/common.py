"""What every command shares: loading the settings, and the errors a command ends with.

Errors are `click.ClickException`s that print `postdock: <line>` on stderr (one line each) and
exit 2 for a wrong environment or wrong usage, 1 for a step that failed."""

from typing import IO, Any

import click

from postdock_supervisor import config, paths, wire
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.errors import ConfigError


class CommandError(click.ClickException):
    """A step of the command failed (exit 1)."""

    exit_code = 1

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    def show(self, file: IO[Any] | None = None) -> None:
        for line in self.lines:
            click.echo(f"postdock: {line}", err=True, file=file)


class UsageProblem(CommandError):
    """The environment or the arguments do not allow the command here (exit 2)."""

    exit_code = 2


def load(read_ssh_key: bool = False) -> config.Settings:
    try:
        settings = config.from_process(read_ssh_key)
    except ConfigError as exc:
        raise UsageProblem(*exc.problems) from None
    if settings.common.tls and settings.common.http_tls != "0":  # every command's agent exchanges
        wire.use_tls(str(paths.TLS_CA), required=settings.common.http_tls == "required")
    return settings


def postgres(settings: config.Settings) -> config.PostgresSettings:
    if settings.postgres is None:
        raise UsageProblem("ROLE: this command runs on a postgres node (ROLE=postgres)")
    return settings.postgres


def barman(settings: config.Settings, what: str = "this command") -> BarmanSettings:
    if settings.barman is None:
        raise UsageProblem(f"ROLE: {what} runs in the barman container (ROLE=barman)")
    return settings.barman
