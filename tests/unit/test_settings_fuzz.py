"""The whole parse -> render path under arbitrary variables: every input is either refused with one
line per problem, or renders files that read back, through the lexers of the programs that read
them, to exactly the settings that were validated (a new line or a quote never adds a setting)."""

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from postdock_supervisor.config import Role, Settings, load_settings
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.render import render_all
from postdock_supervisor.render.ssh import sshd_config
from tests.builders import BASE_ENV
from tests.unit.test_backup import BARMAN_ENV
from tests.unit.test_pgpool import POOL_ENV

# The characters that break rendered files (new lines, quotes, backslashes, separators) and a few
# ordinary ones, so that some of the generated values are valid.
NASTY = "\n\r\t\x00\x7f'\"\\:,=# /.-_"
ALPHABET = st.sampled_from(list(NASTY) + list("abcXYZ019") + ["é", "ß"])
SPECIAL = st.sampled_from(["inf", "nan", "-1", "0", "99999999999", ", ", "'", "x\\", "/k\nPermitRootLogin yes"])
VALUE = st.one_of(st.text(ALPHABET, max_size=12), SPECIAL)

POSTGRES_VARS = [
    "NODE_NAME", "NODE_ID", "CLUSTER_NODE_NETWORK_NAME", "CLUSTER_NAME", "POSTGRES_DB", "POSTGRES_USER",
    "POSTGRES_PASSWORD", "REPLICATION_PASSWORD", "PGDATA", "POSTGRES_CONF_DIR", "CONFIGS",
    "SSH_HOST_KEY_DIR", "SSH_KEY_DIR", "NODE_PRIORITY", "LEASE_TIMEOUT",
]  # fmt: skip
POOL_VARS = ["BACKENDS", "DB_USERS", "CHECK_PASSWORD", "CHECK_USER", "PCP_PASSWORD", "CONFIGS"]
BARMAN_VARS = ["REPLICATION_HOST", "REPLICATION_USER", "REPLICATION_PASSWORD", "BACKUP_DIR"]

PROBLEM = re.compile(r"^[A-Z][A-Z_]*: found .*; expected .+$")

# postgresql.conf and repmgr.conf share postgres's configuration lexer; pgpool.conf has its own,
# without escapes (a backslash and the next character are kept as they are, a quote cannot appear).
PG_STRING = r"'(?:[^'\\\n]|\\.|'')*'"
PGPOOL_STRING = r"'(?:[^'\n]|\\.)*'"
WORD = r"[A-Za-z0-9_.:/+\-$]+"


def conf_settings(text: str, string: str) -> dict[str, str]:
    """key -> raw value token of every setting line; any other line fails the test."""
    line_re = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*({string}|{WORD})\s*(#.*)?$")
    found: dict[str, str] = {}
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = line_re.match(line)
        assert match, f"not one setting: {line!r}"
        found[match.group(1)] = match.group(2)
    return found


def pg_unquote(token: str) -> str:
    """The value postgres's lexer reads from a quoted literal (its escapes and doubled quotes)."""
    if not token.startswith("'"):
        return token
    body, out, i = token[1:-1], [], 0
    named = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 1
            octal = re.match(r"[0-7]{1,3}", body[i:])
            if octal:
                out.append(chr(int(octal.group(0), 8)))
                i += len(octal.group(0))
                continue
            out.append(named.get(body[i], body[i]))
        elif c == "'":
            out.append("'")
            i += 1  # the doubled quote's second half
        else:
            out.append(c)
        i += 1
    return "".join(out)


def env_for(role: Role, base: Mapping[str, str], names: list[str], values: list[str]) -> dict[str, str]:
    return {**base, **dict(zip(names, values, strict=False))}


def assert_refused_cleanly(error: ConfigError, env: Mapping[str, str]) -> None:
    for line in error.problems:
        assert "\n" not in line and PROBLEM.match(line), line
    for secret in ("POSTGRES_PASSWORD", "REPLICATION_PASSWORD", "CHECK_PASSWORD", "PCP_PASSWORD"):
        value = env.get(secret, "")
        shown_elsewhere = any(value in v for k, v in env.items() if k != secret)
        if len(value) >= 4 and not shown_elsewhere:
            assert all(value not in line for line in error.problems), secret


def rendered(config: Settings) -> dict[Path, str]:
    return {f.path: f.content for f in render_all(config)}


def check_postgres(config: Settings) -> None:
    pg = config.postgres
    assert pg is not None
    files = rendered(config)
    postgresql = conf_settings(next(t for p, t in files.items() if p.name == "postgresql.conf"), PG_STRING)
    assert pg_unquote(postgresql["data_directory"]) == pg.pgdata
    assert pg_unquote(postgresql["include_dir"]) == pg.conf_dir
    for key, value in config.configs:
        if key != "shared_preload_libraries":
            expected = pg_unquote(value) if re.fullmatch(PG_STRING, value) else value
            assert pg_unquote(postgresql[key]) == expected
    repmgr = conf_settings(next(t for p, t in files.items() if p.name == "repmgr.conf"), PG_STRING)
    assert pg_unquote(repmgr["node_name"]) == pg.node_name
    assert pg_unquote(repmgr["data_directory"]) == pg.pgdata
    assert 1 <= int(repmgr["node_id"]) <= 2_147_483_647
    passfile = next(t for p, t in files.items() if p.name.endswith("pgpass"))
    entries = [re.split(r"(?<!\\):", line) for line in passfile.splitlines()]
    assert all(len(fields) == 5 for fields in entries), passfile.splitlines()
    unescaped = {re.sub(r"\\(.)", r"\1", f[3]): re.sub(r"\\(.)", r"\1", f[4]) for f in entries}
    assert unescaped[pg.replication_user] == pg.replication_password.reveal()
    sshd = sshd_config(config).splitlines()
    assert len(sshd) == len(sshd_config(load_settings(BASE_ENV, "h")).splitlines())
    assert f"HostKey {config.common.ssh_host_key_dir}/ssh_host_ed25519_key" in sshd or any(
        line.startswith(f"HostKey {config.common.ssh_host_key_dir.rstrip('/')}/") for line in sshd
    )


def check_pgpool(config: Settings) -> None:
    pool = config.pgpool
    assert pool is not None
    text = next(t for p, t in rendered(config).items() if p.name == "pgpool.conf")
    values = conf_settings(text, PGPOOL_STRING)
    for backend in pool.backends:
        assert values[f"backend_data_directory{backend.num}"] == f"'{backend.data_directory}'"
        assert float(values[f"backend_weight{backend.num}"]) >= 0
    for key, value in config.configs:
        assert values[key].strip("'") == value.strip("'")


def check_barman(config: Settings) -> None:
    bm = config.barman
    assert bm is not None and bm.hosts
    for path, text in rendered(config).items():
        if path.suffix == ".conf":
            for line in text.splitlines():
                assert line.startswith(("[", "#", ";")) or not line.strip() or "=" in line, (path, line)


CASES = [
    (Role.POSTGRES, BASE_ENV, POSTGRES_VARS, check_postgres),
    (Role.PGPOOL, POOL_ENV, POOL_VARS, check_pgpool),
    (Role.BARMAN, BARMAN_ENV, BARMAN_VARS, check_barman),
]


@pytest.mark.parametrize(("role", "base", "names", "check"), CASES, ids=[c[0].value for c in CASES])
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_input_is_refused_in_one_line_each_or_renders_files_that_read_back(
    role: Role, base: Mapping[str, str], names: list[str], check: object, data: st.DataObject
) -> None:
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    values = data.draw(st.lists(VALUE, min_size=len(chosen), max_size=len(chosen)))
    env = env_for(role, base, chosen, values)
    try:
        config = load_settings(env, "container-host")
    except ConfigError as error:
        assert_refused_cleanly(error, env)
        event("refused")
        return
    event("rendered")
    assert callable(check)
    check(config)


@pytest.mark.parametrize(
    ("base", "overrides", "starts"),
    [
        (BARMAN_ENV, {"REPLICATION_HOST": ", "}, "REPLICATION_HOST: found ', '; expected"),
        (BASE_ENV, {"NODE_ID": "", "NODE_NAME": "node99999999999"}, "NODE_ID: found nothing"),
        (POOL_ENV, {"BACKENDS": "0:pgmaster::inf::"}, "BACKENDS: found '0:pgmaster::inf::'; expected"),
        (BASE_ENV, {"SSH_HOST_KEY_DIR": "/k\nPermitRootLogin yes"}, "SSH_HOST_KEY_DIR: found"),
        (BASE_ENV, {"PGDATA": "/data\ninclude '/etc/passwd'"}, "PGDATA: found"),
        (BASE_ENV, {"CONFIGS": "work_mem:4MB\nfsync:off"}, "CONFIGS: found"),
        (BASE_ENV, {"POSTGRES_PASSWORD": "pw\n*:*:*:postgres:x"}, "POSTGRES_PASSWORD: found '***'"),
        (POOL_ENV, {"CONFIGS": "log_line_prefix:a\\"}, "CONFIGS: found log_line_prefix='a\\\\'"),
    ],
)
def test_the_fuzzers_counterexamples_are_refused_with_one_line(
    base: Mapping[str, str], overrides: Mapping[str, str], starts: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**base, **overrides}, "container-host")
    [line] = caught.value.problems
    assert line.startswith(starts), line


def test_a_secret_file_that_is_not_utf8_is_refused_with_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b"\xff\xfe secret")
    env = {k: v for k, v in BASE_ENV.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, "POSTGRES_PASSWORD_FILE": str(secret)}, "container-host")
    assert caught.value.problems == [
        f"POSTGRES_PASSWORD_FILE: found {str(secret)!r}, which is not UTF-8 text; expected a UTF-8 text file"
    ]


def test_a_value_ending_in_a_backslash_reads_back_whole_from_postgresql_conf() -> None:
    config = load_settings({**BASE_ENV, "CONFIGS": "search_path:a\\"}, "container-host")
    text = next(f.content for f in render_all(config) if f.path.name == "postgresql.conf")
    assert pg_unquote(conf_settings(text, PG_STRING)["search_path"]) == "a\\"
