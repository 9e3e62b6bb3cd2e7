"""Build Settings from an explicit mapping; collect every problem and report them together."""

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from postdock_supervisor import paths
from postdock_supervisor.config import parse as p
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.config.model import (
    FENCE_MARGIN_S,
    SECTIONS,
    CommonSettings,
    EnvVar,
    PgpoolSettings,
    PostgresSettings,
    Role,
    Secret,
    Settings,
    SshKey,
)
from postdock_supervisor.config.modes import Mode
from postdock_supervisor.errors import ConfigError


def env_var(field: dataclasses.Field[Any]) -> EnvVar:
    var = field.metadata["env"]
    assert isinstance(var, EnvVar)
    return var


def _show(var: EnvVar, raw: str) -> str:
    return "'***'" if var.secret else repr(raw)


class _Reported(Exception):
    """A problem with the variable has been recorded already."""


def _read_raw(var: EnvVar, env: Mapping[str, str], problems: list[str]) -> str:
    """The raw text of a variable ('' when unset), following NAME_FILE for secrets."""
    file_name = env.get(f"{var.name}_FILE", "") if var.secret else ""
    if not file_name:
        return env.get(var.name, "")
    if env.get(var.name):
        problems.append(f"{var.name}: found both {var.name} and {var.name}_FILE; expected only one of them")
        raise _Reported
    try:
        return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        problems.append(
            f"{var.name}_FILE: found {file_name!r} ({exc.strerror or exc}); expected a readable file holding the secret"
        )
        raise _Reported from None
    except UnicodeDecodeError:
        problems.append(f"{var.name}_FILE: found {file_name!r}, which is not UTF-8 text; expected a UTF-8 text file")
        raise _Reported from None


def _parse_section(cls: type, env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        var = env_var(field)
        try:
            raw = _read_raw(var, env, problems)
        except _Reported:
            continue
        if raw == "":
            if var.default is None:
                what = f"a secret (set {var.name} or {var.name}_FILE)" if var.secret else "a value"
                problems.append(f"{var.name}: found nothing; expected {what}")
                continue
            raw = var.default
        try:
            values[field.name] = var.parse(raw)
        except ValueError as exc:
            choices: list[enum.Enum] = list(var.parse) if isinstance(var.parse, enum.EnumMeta) else []
            expected = "one of " + ", ".join(str(c.value) for c in choices) if choices else str(exc)
            problems.append(f"{var.name}: found {_show(var, raw)}; expected {expected}")
    return values


def _derive_postgres(values: dict[str, Any], hostname: str, problems: list[str]) -> None:
    if not values.get("network_name"):
        values["network_name"] = hostname
    name = values.get("node_name")
    if values.get("node_id_raw") is None and name is not None and "node_id_offset" in values:
        number = p.trailing_number(name)
        if number is None or not 1 <= number + values["node_id_offset"] <= p.MAX_NODE_ID:
            problems.append(
                f"NODE_ID: found nothing, and NODE_NAME {name!r} has no usable trailing number; "
                f"expected NODE_ID (1 to {p.MAX_NODE_ID}) or a NODE_NAME ending in a number "
                f"(plus NODE_ID_OFFSET from 1 to {p.MAX_NODE_ID})"
            )
        else:
            values["node_id_raw"] = number + values["node_id_offset"]
    if values.get("barman_synchronous") and values.get("consistency_mode") is Mode.STRICT:
        problems.append(
            "BARMAN_SYNCHRONOUS: found 1 with CONSISTENCY_MODE=strict; expected 0 (strict mode waits for the "
            "standbys to apply each commit, which barman's receiver never reports, so every commit would hang)"
        )
    partners = values.get("partner_nodes")
    me = values.get("network_name")
    if partners and me and me not in partners:
        problems.append(
            f"PARTNER_NODES: found {','.join(partners)!r}, which does not name this node; "
            f"expected a list that includes CLUSTER_NODE_NETWORK_NAME {me!r}"
        )
    _check_fence_timing(values, problems)
    if values.get("postgres_user") and values.get("postgres_user") == values.get("replication_user"):
        problems.append(
            f"POSTGRES_USER: found {values['postgres_user']!r}, the same as REPLICATION_USER; expected another "
            "name (the application user has fewer rights than the replication superuser)"
        )
    check = values.get("check_user")
    if check and check == values.get("replication_user"):
        # A settings file shared with pgpool, which checks as the repmgr user by default: nothing to create.
        values["check_user"] = check = ""
    if check and check == values.get("postgres_user"):
        problems.append(
            f"CHECK_USER: found {check!r}, the same as POSTGRES_USER; expected a role of its own (it is created "
            "with pg_monitor only), the repmgr user, or nothing"
        )
    elif check and "check_password" in values and not values["check_password"].reveal():
        problems.append(f"CHECK_PASSWORD: found nothing; expected the password of CHECK_USER {check!r}")
    _check_barman_user(values, problems)
    primary = values.get("primary_host")
    if partners and primary and primary not in partners:
        problems.append(
            f"REPLICATION_PRIMARY_HOST: found {primary!r}, not one of PARTNER_NODES; "
            "expected a first-level node (cascaded nodes leave PARTNER_NODES empty)"
        )


def _check_barman_user(values: dict[str, Any], problems: list[str]) -> None:
    name = values.get("barman_user")
    if not name:
        return
    others = {"REPLICATION_USER": values.get("replication_user"), "POSTGRES_USER": values.get("postgres_user"),
              "CHECK_USER": values.get("check_user")}  # fmt: skip
    taken = [var for var, other in others.items() if other == name]
    if taken:
        problems.append(
            f"BARMAN_USER: found {name!r}, the same as {taken[0]}; expected a role of its own (it is created with "
            "the backup privileges only), or nothing"
        )
    elif "barman_password" in values and not values["barman_password"].reveal():
        problems.append(f"BARMAN_PASSWORD: found nothing; expected the password of BARMAN_USER {name!r}")


def _check_fence_timing(values: dict[str, Any], problems: list[str]) -> None:
    """Fence before promote: no standby may be promoted before an isolated primary has stopped."""
    fence, attempts, interval = (values.get(k) for k in ("fence_timeout", "reconnect_attempts", "reconnect_interval"))
    if not fence or attempts is None or interval is None or len(values.get("partner_nodes") or ()) < 2:
        return
    if values.get("lease_timeout", 1):
        return  # the lease (or a malformed LEASE_TIMEOUT, already reported) decides, not these timings
    earliest = max(0, attempts - 1) * interval
    if earliest < fence + FENCE_MARGIN_S:
        problems.append(
            f"RECONNECT_ATTEMPTS: found {attempts} (x RECONNECT_INTERVAL {interval}s: a promotion after {earliest}s); "
            f"expected (RECONNECT_ATTEMPTS - 1) x RECONNECT_INTERVAL of at least FENCE_TIMEOUT {fence}s + "
            f"{FENCE_MARGIN_S}s, so no standby is promoted before an isolated primary has fenced itself "
            "(LEASE_TIMEOUT=0: no lease)"
        )


_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")


HOST_CA = "host_ca"


def _with_host_ca(login: SshKey, key_dir: Path, problems: list[str]) -> SshKey | None:
    """The host authority beside the login pair, when the user has one (both of its files)."""
    private, public = key_dir / HOST_CA, key_dir / f"{HOST_CA}.pub"
    if not private.exists() and not public.exists():
        return login
    try:
        private.read_bytes()
        text = public.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        problems.append(
            f"SSH_KEY_DIR: found {HOST_CA} without a readable pair in {str(key_dir)!r} ({why}); expected "
            f"{HOST_CA} and {HOST_CA}.pub, the host certificate authority (SSH_ENABLE=1)"
        )
        return None
    if text == login.public:
        problems.append(
            f"SSH_KEY_DIR: found {HOST_CA}.pub equal to the login key's; expected a key pair of its own, so that "
            "the key every postgres account holds cannot certify hosts (SSH_ENABLE=1)"
        )
        return None
    return dataclasses.replace(login, host_ca_path=str(private), host_ca_public=text)


def _ssh_key(key_dir: str, problems: list[str]) -> SshKey | None:
    """The mounted key pair; a missing or unreadable one is a start-up error naming the path."""
    for name in _KEY_NAMES:
        private = Path(key_dir) / name
        if not private.exists():
            continue
        try:
            private.read_bytes()
            public = private.with_name(name + ".pub").read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(
                f"SSH_KEY_DIR: found {str(private)!r} ({exc.strerror or exc}); "
                "expected a readable private key and its .pub (SSH_ENABLE=1)"
            )
            return None
        return _with_host_ca(SshKey(str(private), public), Path(key_dir), problems)
    problems.append(
        f"SSH_KEY_DIR: found {key_dir!r} without {', '.join(_KEY_NAMES)}; expected a mounted key pair (SSH_ENABLE=1)"
    )
    return None


def _check_cloud(values: dict[str, Any], problems: list[str]) -> None:
    """An access key comes with its secret, and neither without a bucket to use them for."""
    key_id, secret = values.get("cloud_key_id"), values.get("cloud_secret")
    if key_id is None or secret is None:
        return
    key = key_id.reveal()
    if bool(key) != bool(secret.reveal()):
        given, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if key else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        problems.append(f"{missing}: found nothing; expected it with {given} (or neither, for boto3's own chain)")
    elif key and not values.get("cloud_url"):
        problems.append("CLOUD_BACKUP_URL: found nothing; expected s3://BUCKET[/FOLDER] where AWS_ACCESS_KEY_ID is set")


_TLS_FILES = {
    "ca.crt": "the cluster CA's ca.crt",
    "ca.key": "the cluster CA's ca.key",
    paths.GIVEN_CERT_NAME: "this node's certificate beside its tls.key",
    paths.GIVEN_KEY_NAME: "this node's key beside its tls.crt",
}


def _tls_problems(tls_dir: str, role: Role | None) -> list[str]:
    """The mounted CA: its certificate everywhere; where a node serves TLS, the CA's key to issue its
    own certificate, or a certificate and key given for it (either file present means that choice)."""
    given = (paths.GIVEN_CERT_NAME, paths.GIVEN_KEY_NAME)
    if role is Role.BARMAN:
        wanted = ["ca.crt"]
    elif any((Path(tls_dir) / name).exists() for name in given):
        wanted = ["ca.crt", *given]
    else:
        wanted = ["ca.crt", "ca.key"]
    problems = []
    for name in wanted:
        path = Path(tls_dir) / name
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not PEM text"
            problems.append(f"TLS_DIR: found no readable {str(path)!r} ({why}); expected {_TLS_FILES[name]} (TLS=1)")
            continue
        if "-----BEGIN " not in text:
            problems.append(f"TLS_DIR: found {str(path)!r} without a PEM block; expected {_TLS_FILES[name]} (TLS=1)")
    return problems


def load_settings(env: Mapping[str, str], hostname: str = "localhost", read_ssh_key: bool = False) -> Settings:
    """Parse and validate; raise ConfigError listing every problem, one line each.

    read_ssh_key: also read the mounted SSH key pair and TLS authority (the entrypoint and `config
    validate` do; programs running as postgres afterwards neither need nor may read them)."""
    problems: list[str] = []
    common_values = _parse_section(CommonSettings, env, problems)
    role = common_values.get("role")
    configs: tuple[tuple[str, str], ...] = ()
    if {"configs_raw", "configs_delimiter", "configs_assignment"} <= common_values.keys():
        try:
            configs = p.split_configs(
                common_values["configs_raw"], common_values["configs_delimiter"], common_values["configs_assignment"]
            )
        except ValueError as exc:
            problems.append(f"CONFIGS: found {common_values['configs_raw']!r}; expected {exc}")
        if role is Role.PGPOOL:
            for key, value in configs:
                if why := p.pgpool_conf_value_problem(value):
                    problems.append(f"CONFIGS: found {key}={value!r}; expected {why}")
    ssh_key = (
        _ssh_key(common_values["ssh_key_dir"], problems)
        if read_ssh_key and common_values.get("ssh_enable") and "ssh_key_dir" in common_values
        else None
    )
    if common_values.get("http_tls", "0") != "0" and common_values.get("tls") is False:
        problems.append(
            f"HTTP_TLS: found {common_values['http_tls']!r} with TLS=0; expected 0, or TLS=1 (the certificates "
            "and the cluster CA come with it)"
        )
    if read_ssh_key and common_values.get("tls") and "tls_dir" in common_values:
        problems += _tls_problems(common_values["tls_dir"], role)
    postgres: PostgresSettings | None = None
    if role is not None and PostgresSettings in SECTIONS[role]:
        values = _parse_section(PostgresSettings, env, problems)
        _derive_postgres(values, hostname, problems)
        if not problems:
            postgres = PostgresSettings(**values)
    pgpool: PgpoolSettings | None = None
    if role is not None and PgpoolSettings in SECTIONS[role]:
        values = _parse_section(PgpoolSettings, env, problems)
        minimum, backends = values.get("require_min_backends"), values.get("backends")
        if minimum is not None and backends is not None and minimum > len(backends):
            problems.append(
                f"REQUIRE_MIN_BACKENDS: found {minimum}; expected at most the {len(backends)} entries of BACKENDS"
            )
        if not problems:
            pgpool = PgpoolSettings(**values)
    barman: BarmanSettings | None = None
    if role is not None and BarmanSettings in SECTIONS[role]:
        values = _parse_section(BarmanSettings, env, problems)
        _check_cloud(values, problems)
        if not problems:
            barman = BarmanSettings(**values)
    if problems:
        raise ConfigError(problems)
    return Settings(
        common=CommonSettings(**common_values),
        postgres=postgres,
        pgpool=pgpool,
        barman=barman,
        configs=configs,
        ssh_key=ssh_key,
    )


def secret_names(role: Role) -> list[str]:
    return [env_var(f).name for cls in SECTIONS[role] for f in dataclasses.fields(cls) if env_var(f).secret]


def describe(settings: Settings) -> list[tuple[str, str]]:
    """(variable, effective value) for `config show`; secrets masked."""
    rows: list[tuple[str, str]] = []
    for section in (settings.common, settings.postgres, settings.pgpool, settings.barman):
        if section is None:
            continue
        for field in dataclasses.fields(section):
            value = getattr(section, field.name)
            if isinstance(value, Secret):
                shown = "***"
            elif field.name == "db_users":
                shown = ",".join(f"{user}:***" for user, _ in value)
            elif field.name == "backends":
                shown = ",".join(f"{b.num}:{b.host}:{b.port}:{b.weight:g}:{b.data_directory}:{b.flag}" for b in value)
            elif isinstance(value, tuple):
                shown = ",".join(value)
            elif isinstance(value, bool):
                shown = "1" if value else "0"
            elif isinstance(value, enum.Enum):
                shown = str(value.value)
            else:
                shown = "" if value is None else str(value)
            rows.append((env_var(field).name, shown))
    return rows
