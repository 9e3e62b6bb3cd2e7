"""Settings from the environment: every problem at once, one line each, secrets masked."""

import pytest

from postdock_supervisor.act.node import app_user_attributes
from postdock_supervisor.config import describe, load_settings
from postdock_supervisor.config.control import ControlKeys
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.programs.entrypoint import version_problem
from postdock_supervisor.render.postgres import pg_hba_conf
from tests.builders import BASE_ENV, make_pg, make_settings


def problems(**overrides: str) -> list[str]:
    env = {k: v for k, v in {**BASE_ENV, **overrides}.items() if v != "<unset>"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env, "container-host")
    return caught.value.problems


def test_valid_environment_has_no_problems() -> None:
    pg = make_pg()
    assert (pg.node_id, pg.node_name, pg.network_name) == (1, "node1", "pgmaster")
    assert pg.partner_nodes == ("pgmaster", "pgslave1", "pgslave3")


def test_every_problem_is_reported_together_one_line_each() -> None:
    found = problems(NODE_ID="abc", CONFIGS="work_mem:4MB,oops", POSTGRES_PASSWORD="<unset>")
    assert len(found) == 3
    assert any(line.startswith("NODE_ID: found 'abc'; expected a whole number") for line in found)
    assert any(line.startswith("CONFIGS: found 'work_mem:4MB,oops'") and "'oops' has no ':'" in line for line in found)
    assert "POSTGRES_PASSWORD: found nothing; expected a secret" in " ".join(found)


def test_unknown_role_names_the_choices() -> None:
    assert problems(ROLE="web") == ["ROLE: found 'web'; expected one of postgres, pgpool, barman"]


def test_partner_list_must_name_the_node_itself() -> None:
    [line] = problems(PARTNER_NODES="pgslave1,pgslave3", REPLICATION_PRIMARY_HOST="pgslave1")
    assert line.startswith("PARTNER_NODES: found 'pgslave1,pgslave3', which does not name this node")
    assert "'pgmaster'" in line


def test_malformed_secret_file_is_named_and_secret_values_are_masked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nope"
    found = problems(REPLICATION_PASSWORD="<unset>", REPLICATION_PASSWORD_FILE=str(missing))
    assert found == [
        f"REPLICATION_PASSWORD_FILE: found '{missing}' (No such file or directory); "
        "expected a readable file holding the secret"
    ]


def test_secret_from_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    pg = make_pg(REPLICATION_PASSWORD="", REPLICATION_PASSWORD_FILE=str(secret))
    assert pg.replication_password.reveal() == "from-file"


def test_config_show_masks_secrets() -> None:
    shown = dict(describe(make_settings()))
    assert shown["POSTGRES_PASSWORD"] == "***" and shown["REPLICATION_PASSWORD"] == "***"
    assert "app-secret" not in repr(make_settings())
    assert (shown["ROLE"], shown["CONSISTENCY_MODE"]) == ("postgres", "eventual")


@pytest.mark.parametrize(
    ("name", "offset", "expected"), [("node-102", "0", 102), ("pgslave3", "0", 3), ("db-node-0", "1", 1)]
)
def test_node_id_is_the_trailing_number_of_the_name(name: str, offset: str, expected: int) -> None:
    assert make_pg(NODE_ID="", NODE_NAME=name, NODE_ID_OFFSET=offset).node_id == expected


def test_name_without_number_and_no_id_is_an_error() -> None:
    [line] = problems(NODE_ID="", NODE_NAME="primary")
    assert line.startswith("NODE_ID: found nothing, and NODE_NAME 'primary' has no usable trailing number")


def test_configs_keys_match_exactly_and_custom_symbols_work() -> None:
    settings = make_settings(
        CONFIGS="hot_standby)on|hot_standby_feedback)off", CONFIGS_DELIMITER_SYMBOL="|", CONFIGS_ASSIGNMENT_SYMBOL=")"
    )
    assert settings.configs == (("hot_standby", "on"), ("hot_standby_feedback", "off"))


def test_network_name_defaults_to_the_host_name() -> None:
    pg = make_pg(CLUSTER_NODE_NETWORK_NAME="", PARTNER_NODES="", REPLICATION_PRIMARY_HOST="")
    assert pg.network_name == "container-host"


def test_a_data_directory_of_another_major_version_is_refused_naming_both_versions() -> None:
    assert version_problem("/data", None) is None  # a new volume
    assert version_problem("/data", "17") is None
    line = version_problem("/data", "15")
    assert line is not None and "\n" not in line
    assert line.startswith("PGDATA: found a PostgreSQL '15' data directory at /data")
    assert "runs PostgreSQL 17" in line and "pg_dumpall" in line


def test_the_application_user_cannot_be_the_replication_superuser() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "POSTGRES_USER": "replication_user"})
    assert str(caught.value) == (
        "POSTGRES_USER: found 'replication_user', the same as REPLICATION_USER; expected another name "
        "(the application user has fewer rights than the replication superuser)"
    )


def test_a_check_user_is_a_role_of_its_own_with_a_password() -> None:
    pg = make_pg(CHECK_USER="pool_check", CHECK_PASSWORD="check-secret")
    assert (pg.check_user, pg.check_password.reveal()) == ("pool_check", "check-secret")
    assert make_pg().check_user == ""  # none unless asked: pgpool then checks as the repmgr user
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "CHECK_USER": "pool_check"})
    assert str(caught.value) == "CHECK_PASSWORD: found nothing; expected the password of CHECK_USER 'pool_check'"
    # pgpool's default, from a settings file both roles share: the repmgr user exists already.
    assert make_pg(CHECK_USER="replication_user").check_user == ""
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "POSTGRES_USER": "app", "CHECK_USER": "app", "CHECK_PASSWORD": "x"})
    assert str(caught.value) == (
        "CHECK_USER: found 'app', the same as POSTGRES_USER; expected a role of its own (it is created with "
        "pg_monitor only), the repmgr user, or nothing"
    )


def test_the_application_user_is_a_superuser_only_when_asked_or_when_it_is_postgres() -> None:
    assert app_user_attributes(make_pg(POSTGRES_USER="app")) == (
        "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    )
    assert app_user_attributes(make_pg(POSTGRES_USER="app", POSTGRES_USER_SUPERUSER="1")) == "LOGIN SUPERUSER"
    assert app_user_attributes(make_pg(POSTGRES_USER="postgres")) == "LOGIN SUPERUSER"  # initdb's own


def test_a_control_key_is_a_key_not_a_short_password_and_without_one_the_replication_password_signs() -> None:
    assert problems(CONTROL_KEY="short") == [
        "CONTROL_KEY: found '***'; expected at least 16 characters (for example `openssl rand -hex 32`), or empty"
    ]
    password = make_pg().replication_password.reveal()
    assert make_pg().control == ControlKeys(password, (password,))
    rotating = make_pg(CONTROL_KEY="k" * 16, CONTROL_KEY_ACCEPTED=password).control
    assert rotating == ControlKeys("k" * 16, ("k" * 16, password))


def test_a_barman_user_is_a_role_of_its_own_with_a_password_and_streams_through_pg_hba() -> None:
    pg = make_pg(BARMAN_USER="barman_user", BARMAN_PASSWORD="barman-secret")
    assert (pg.barman_user, pg.barman_password.reveal()) == ("barman_user", "barman-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "BARMAN_USER": "barman_user"})
    assert str(caught.value) == "BARMAN_PASSWORD: found nothing; expected the password of BARMAN_USER 'barman_user'"
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "BARMAN_USER": "replication_user", "BARMAN_PASSWORD": "x"})
    assert str(caught.value) == (
        "BARMAN_USER: found 'replication_user', the same as REPLICATION_USER; expected a role of its own (it is "
        "created with the backup privileges only), or nothing"
    )
    hba = pg_hba_conf(make_settings(BARMAN_USER="barman_user", BARMAN_PASSWORD="x", ALLOWED_NETWORKS="10.0.0.0/8"))
    assert "host    replication  barman_user          10.0.0.0/8     scram-sha-256" in hba.splitlines()
    assert "barman_user" not in pg_hba_conf(make_settings(ALLOWED_NETWORKS="10.0.0.0/8"))


def test_tls_on_the_http_ports_needs_tls_and_names_its_choices() -> None:
    assert problems(HTTP_TLS="required") == [
        "HTTP_TLS: found 'required' with TLS=0; expected 0, or TLS=1 (the certificates and the cluster CA come with it)"
    ]
    assert problems(HTTP_TLS="yes") == ["HTTP_TLS: found 'yes'; expected 0, 1 or required"]
    assert make_settings(TLS="1", HTTP_TLS="Required").common.http_tls == "required"
