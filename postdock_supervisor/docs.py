"""The README's variable table, generated from the settings dataclasses so it cannot drift."""

import dataclasses

from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.config.loader import env_var
from postdock_supervisor.config.model import CommonSettings, PgpoolSettings, PostgresSettings

SECTIONS = (
    ("All roles", CommonSettings),
    ("ROLE=postgres", PostgresSettings),
    ("ROLE=pgpool", PgpoolSettings),
    ("ROLE=barman", BarmanSettings),
)
BEGIN = "<!-- BEGIN generated variables: postdock docs env -->"
END = "<!-- END generated variables -->"


def env_table() -> str:
    lines = [BEGIN]
    for title, cls in SECTIONS:
        lines += ["", f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        for field in dataclasses.fields(cls):
            var = env_var(field)
            if var.default is None:
                default = "required" + (f" (or `{var.name}_FILE`)" if var.secret else "")
            else:
                default = f"`{var.default}`" if var.default else "empty"
            lines.append(f"| `{var.name}` | {default} | {var.doc} |")
    lines += ["", END]
    return "\n".join(lines)
