"""The `postdock` command's argument handling and error lines, through click's CliRunner: every
command that can refuse says so in one `postdock: ...` line on stderr and exits 2 (wrong place or
wrong arguments) before it touches anything."""

import pytest
from click.testing import CliRunner, Result

from postdock_supervisor.cli import main
from postdock_supervisor.docs import BEGIN
from tests.builders import BASE_ENV
from tests.unit.test_backup import BARMAN_ENV


def run(args: list[str], env: dict[str, str]) -> Result:
    # Every variable the tests do not set is removed, so the host's environment cannot leak in.
    blank = {name: None for name in (*BASE_ENV, *BARMAN_ENV, "SSH_ENABLE", "BACKENDS")}
    return CliRunner().invoke(main, args, env={**blank, **env})


def test_config_validate_accepts_a_valid_environment() -> None:
    result = run(["config", "validate"], BASE_ENV)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "configuration is valid\n", "")


def test_config_validate_prints_every_problem_one_line_each_and_exits_2() -> None:
    result = run(["config", "validate"], {**BASE_ENV, "NODE_ID": "abc", "ROLE": "postgres", "CONFIGS": "oops"})
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and result.stdout == ""
    assert len(lines) == 2 and all(line.startswith("postdock: ") for line in lines)
    assert lines[0].startswith("postdock: NODE_ID: found 'abc'; expected a whole number") or lines[1].startswith(
        "postdock: NODE_ID: found 'abc'; expected a whole number"
    )


def test_config_show_masks_secrets() -> None:
    result = run(["config", "show"], BASE_ENV)
    assert result.exit_code == 0
    assert "NODE_ID=1\n" in result.stdout
    assert "app-secret" not in result.stdout and "repl-secret" not in result.stdout
    assert "POSTGRES_PASSWORD=" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["backup", "take"], BASE_ENV, "ROLE: this command runs in the barman container (ROLE=barman)"),
        (["backup", "keeper"], BASE_ENV, "ROLE: this command runs in the barman container (ROLE=barman)"),
        (["recover", "--latest", "--yes"], BASE_ENV, "ROLE: recover runs in the barman container (ROLE=barman)"),
        (["node", "hold"], BARMAN_ENV, "ROLE: this command runs on a postgres node (ROLE=postgres)"),
        (["node", "reclone"], BARMAN_ENV, "ROLE: this command runs on a postgres node (ROLE=postgres)"),
        (
            ["recover", "--latest", "--yes"],
            BARMAN_ENV,
            "SSH_ENABLE: found 0; expected 1 here and on the postgres nodes (recover uses SSH)",
        ),
    ],
)
def test_a_command_in_the_wrong_container_refuses_with_one_line(
    args: list[str], env: dict[str, str], line: str
) -> None:
    result = run(args, env)
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"postdock: {line}\n", "")


@pytest.mark.parametrize(
    "targets",
    [[], ["--latest", "--immediate"], ["--target-time", "2027-01-01", "--target-lsn", "0/1"]],
)
def test_recover_needs_exactly_one_target(targets: list[str]) -> None:
    result = run(["recover", "--yes", *targets], {**BARMAN_ENV, "SSH_ENABLE": "1", "SSH_KEY_DIR": "/nonexistent"})
    expected = "postdock: give exactly one of --target-time, --target-lsn, --immediate, --latest\n"
    assert (result.exit_code, result.stderr) == (2, expected)


def test_an_invalid_environment_stops_a_program_before_it_starts() -> None:
    result = run(["node", "fence-keeper"], {**BASE_ENV, "FENCE_TIMEOUT": "soon"})
    assert result.exit_code == 2
    assert result.stderr.startswith("postdock: FENCE_TIMEOUT: found 'soon'")


def test_unknown_listener_and_bad_option_values_are_usage_errors() -> None:
    result = run(["listen", "nosuch"], BASE_ENV)
    assert result.exit_code == 2
    listeners = "'conf-reload', 'crash-guard', 'role-check', 'ssh-keeper', 'sync-keeper', 'tls-keeper'"
    assert f"'nosuch' is not one of {listeners}" in result.stderr
    result = run(["switchover", "--timeout", "soon"], BASE_ENV)
    assert result.exit_code == 2 and "'soon' is not a valid integer" in result.stderr


def test_docs_env_prints_the_generated_table_and_version_is_shown() -> None:
    result = run(["docs", "env"], {})
    assert result.exit_code == 0 and result.stdout.startswith(BEGIN)
    assert "| `PARTNER_NODES` |" in result.stdout
    result = run(["--version"], {})
    assert result.exit_code == 0 and "version" in result.stdout


def test_an_off_site_drill_takes_no_backup_id() -> None:
    result = run(["backup", "drill", "--from-cloud", "--backup-id", "20261201T120000"], BARMAN_ENV)
    assert result.exit_code == 2
    assert "--backup-id: the off-site drill restores the newest copied backup" in result.stderr
