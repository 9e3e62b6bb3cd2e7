"""Rendered files: exact CONFIGS keys, password auth everywhere, no secret on a command line."""

import re

import pytest

from postdock_supervisor import paths
from postdock_supervisor.config import Settings, load_settings
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.render import render_all
from postdock_supervisor.render.postgres import pg_hba_conf, pgpass, postgresql_conf
from postdock_supervisor.render.repmgr import repmgr_conf
from tests.builders import BASE_ENV, make_settings


def conf_values(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.split("  #")[0].strip()
    return values


def test_configs_key_replaces_only_that_exact_key() -> None:
    text = postgresql_conf(make_settings(CONFIGS="hot_standby:off"))
    values = conf_values(text)
    assert values["hot_standby"] == "off"
    assert values["wal_receiver_status_interval"] == "'1s'"  # a key sharing the prefix is untouched
    assert len(re.findall(r"^hot_standby\b", text, re.M)) == 1


def test_configs_values_are_quoted_only_where_postgres_needs_it() -> None:
    settings = make_settings(
        CONFIGS="work_mem)7MB|listen_addresses)'*'|application_name)a,b:c|search_path)x y",
        CONFIGS_DELIMITER_SYMBOL="|",
        CONFIGS_ASSIGNMENT_SYMBOL=")",
    )
    values = conf_values(postgresql_conf(settings))
    assert values["work_mem"] == "7MB" and values["listen_addresses"] == "'*'"
    assert values["application_name"] == "'a,b:c'" and values["search_path"] == "'x y'"


def test_preload_libraries_come_after_repmgr_once_each() -> None:
    settings = make_settings(
        PRELOAD_LIBRARIES="pglogical,pg_cron",
        CONFIGS_DELIMITER_SYMBOL="|",
        CONFIGS="shared_preload_libraries:'pg_cron,auto_explain'",
    )
    values = conf_values(postgresql_conf(settings))
    assert values["shared_preload_libraries"] == "'repmgr,pglogical,pg_cron,auto_explain'"


def test_repmgr_library_is_always_preloaded() -> None:
    values = conf_values(postgresql_conf(make_settings(CONFIGS="shared_preload_libraries:'pg_stat_statements'")))
    assert values["shared_preload_libraries"] == "'repmgr,pg_stat_statements'"


def test_pg_hba_uses_scram_on_every_tcp_line_and_never_trust() -> None:
    lines = [line.split() for line in pg_hba_conf(make_settings()).splitlines() if line and line[0] != "#"]
    tcp = [line for line in lines if line[0].startswith("host")]
    assert tcp and all(line[-1] == "scram-sha-256" for line in tcp)
    assert not any("trust" in line for line in lines)
    private = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
    assert {line[3] for line in tcp} == {"127.0.0.1/32", "::1/128", *private}


def test_allowed_networks_replace_the_private_ranges_and_bad_ones_are_refused() -> None:
    text = pg_hba_conf(make_settings(ALLOWED_NETWORKS="samenet, 10.244.1.7/16"))
    remote = [line.split() for line in text.splitlines() if line.startswith("host") and "/32" not in line]
    remote = [line for line in remote if line[3] != "::1/128"]
    assert [(line[1], line[3]) for line in remote] == [
        ("replication", "samenet"),
        ("replication", "10.244.0.0/16"),  # host bits cleared: the network postgres compares with
        ("all", "samenet"),
        ("all", "10.244.0.0/16"),
    ]
    with pytest.raises(ConfigError) as caught:
        make_settings(ALLOWED_NETWORKS="10.0.0.0/33")
    assert caught.value.problems == [
        "ALLOWED_NETWORKS: found '10.0.0.0/33'; expected a comma-separated list of CIDRs (e.g. 10.0.0.0/8) or "
        "samenet; '10.0.0.0/33' is not"
    ]


def test_no_password_in_repmgr_conf_and_service_commands_use_supervisorctl() -> None:
    text = repmgr_conf(make_settings())
    assert "repl-secret" not in text and "app-secret" not in text and "password" not in text
    values = conf_values(text)
    for key in ("service_start_command", "service_stop_command", "service_restart_command"):
        assert values[key].startswith(f"'{paths.SUPERVISORCTL} ")
    assert values["follow_command"].endswith("--upstream-node-id=%n'")
    assert values["passfile"] == f"'{paths.PGPASS}'"


def test_passfile_escapes_separators_and_is_private() -> None:
    settings = make_settings(REPLICATION_PASSWORD=r"a:b\c")
    assert r"*:*:*:replication_user:a\:b\\c" in pgpass(settings).splitlines()
    [passfile] = [f for f in render_all(settings) if f.path == paths.PGPASS]
    assert (passfile.mode, passfile.owner) == (0o600, "postgres")


def test_rendering_is_deterministic_so_restarts_write_identical_files() -> None:
    first = render_all(make_settings())
    assert all(a == b for a, b in zip(first, render_all(make_settings()), strict=True))


def test_supervisord_runs_the_postgres_role_programs_from_the_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    [conf] = [f for f in render_all(make_settings()) if f.path == paths.SUPERVISOR_CONF]
    programs = re.findall(r"^\[program:(\w+)\]", conf.content, re.M)
    assert programs == [
        "agent",
        "bootstrap",
        "postgres",
        "repmgrd",
        "fence_keeper",
        "lease_keeper",
        "handover",
        "conf_watch",
        "exporter",
    ]
    handover = conf.content.split("[program:handover]")[1].split("[")[0]
    assert "priority=900" in handover and "stopwaitsecs=90" in handover
    listeners = re.findall(r"^\[eventlistener:(\w+)\]", conf.content, re.M)
    assert listeners == ["crash_guard", "role_check", "sync_keeper", "conf_reload"]
    watcher = conf.content.split("[program:conf_watch]")[1].split("[")[0]
    assert "stdout_capture_maxbytes=64KB" in watcher
    assert "-D /var/lib/postgresql/data -c config_file=/etc/postdock/postgresql.conf" in conf.content
    (tmp_path / "id_rsa").write_text("k")
    (tmp_path / "id_rsa.pub").write_text("ssh-rsa AAAA")
    with_ssh = [
        f
        for f in render_all(
            load_settings({**BASE_ENV, "SSH_ENABLE": "1", "SSH_KEY_DIR": str(tmp_path)}, "h", read_ssh_key=True)
        )
        if f.path == paths.SUPERVISOR_CONF
    ][0]
    assert "[program:sshd]" in with_ssh.content


def test_postgres_exporter_runs_only_when_enabled_and_with_no_password_in_its_command() -> None:
    def programs(settings: Settings) -> list[str]:
        [conf] = [f for f in render_all(settings) if f.path == paths.SUPERVISOR_CONF]
        return re.findall(r"^\[program:(\w+)\]", conf.content, re.M)

    assert "postgres_exporter" not in programs(make_settings())
    enabled = make_settings(POSTGRES_EXPORTER_ENABLE="1")
    assert "postgres_exporter" in programs(enabled)
    [conf] = [f for f in render_all(enabled) if f.path == paths.SUPERVISOR_CONF]
    assert "command=postdock postgres-exporter" in conf.content
    assert "secret" not in conf.content


def test_failover_slots_and_wal_summaries_are_on_where_postgresql_allows_them() -> None:
    first_level = conf_values(postgresql_conf(make_settings()))
    assert (first_level["wal_level"], first_level["summarize_wal"]) == ("logical", "on")
    assert (first_level["sync_replication_slots"], first_level["hot_standby_feedback"]) == ("on", "on")
    # A cascade would sync from a standby, which PostgreSQL refuses; without slots there is nothing to sync.
    cascade = conf_values(postgresql_conf(make_settings(PARTNER_NODES="", REPLICATION_PRIMARY_HOST="pgslave1")))
    assert cascade["sync_replication_slots"] == "off"
    assert conf_values(postgresql_conf(make_settings(USE_REPLICATION_SLOTS="0")))["sync_replication_slots"] == "off"
