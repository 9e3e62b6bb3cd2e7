"""The only package that reads the environment."""

import json
import os
import socket

from postdock_supervisor import paths
from postdock_supervisor.config.loader import describe, load_settings, secret_names
from postdock_supervisor.config.model import Backend, PgpoolSettings, PostgresSettings, Role, Secret, Settings

__all__ = [
    "Backend",
    "PgpoolSettings",
    "PostgresSettings",
    "Role",
    "Secret",
    "Settings",
    "describe",
    "from_process",
    "load_settings",
    "process_env",
    "secret_names",
]


def process_env() -> dict[str, str]:
    """The process environment; in an SSH session (no ROLE), the container's saved one under it."""
    env = dict(os.environ)
    if "ROLE" in env:
        return env
    try:
        saved = json.loads(paths.SAVED_ENV.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return env
    return {**{str(k): str(v) for k, v in saved.items()}, **env} if isinstance(saved, dict) else env


def from_process(read_ssh_key: bool = False) -> Settings:
    """Settings of this container, from the process environment."""
    return load_settings(process_env(), socket.gethostname(), read_ssh_key)
