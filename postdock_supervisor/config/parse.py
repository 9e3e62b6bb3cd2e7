"""Small named coercions from environment strings; each raises ValueError with what it expected."""

import math
import re

# Docker service names may hold "_" and its DNS resolves them, so it is accepted here.
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-]*[A-Za-z0-9])?$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONF_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# A name that goes into configuration files, conninfo strings and SQL as it is (repmgr's node_name
# holds 63 bytes, like a PostgreSQL identifier).
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,62}$")
# A new line would start a new setting in a rendered file; no variable needs any control character.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
NO_CONTROL = "text without control characters (new lines, tabs)"


def parse_text(raw: str) -> str:
    if _CONTROL_RE.search(raw):
        raise ValueError(NO_CONTROL)
    return raw


def parse_secret_text(raw: str) -> str:
    """A password: anything printable, spaces included (the passfiles escape ':' and '\\')."""
    if _CONTROL_RE.search(raw):
        raise ValueError("a password without control characters (new lines, tabs)")
    return raw


def parse_name(raw: str) -> str:
    value = raw.strip()
    if not _NAME_RE.match(value):
        raise ValueError("a name of letters, digits, '.', '-', '_' (at most 63, not starting with '.' or '-')")
    return value


def parse_optional_name(raw: str) -> str:
    return parse_name(raw) if raw.strip() else ""


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("1 or 0 (also true/false, yes/no, on/off)")


def _int_between(raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ValueError(f"a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise ValueError(f"a whole number from {low} to {high}")
    return value


def parse_port(raw: str) -> int:
    return _int_between(raw, 1, 65535)


def parse_count(raw: str) -> int:
    return _int_between(raw, 0, 1_000_000)


def parse_bytes(raw: str) -> int:
    return _int_between(raw, 0, 2**62)


def parse_seconds(raw: str) -> int:
    return _int_between(raw, 1, 86_400)


def parse_fence_timeout(raw: str) -> int:
    # Below 3 s a busy machine's pause would fence a healthy primary; above 60 s it is no fence.
    value = _int_between(raw, 0, 60)
    if 0 < value < 3:
        raise ValueError("0 (off) or a whole number of seconds from 3 to 60")
    return value


def parse_lease_timeout(raw: str) -> float:
    # Below 1 s a renewal round (four per lease) would be shorter than a busy machine's pause.
    expected = "0 (off) or seconds from 1 to 30, decimals allowed (e.g. 2 or 1.5)"
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(expected) from None
    if not (value == 0 or 1 <= value <= 30):
        raise ValueError(expected)
    return value


def parse_priority(raw: str) -> int:
    return _int_between(raw, 0, 1_000_000)


MAX_NODE_ID = 2_147_483_647  # repmgr's node_id is a PostgreSQL integer


def parse_node_id(raw: str) -> int | None:
    if not raw.strip():
        return None
    return _int_between(raw, 1, MAX_NODE_ID)


def parse_host(raw: str) -> str:
    value = raw.strip()
    if not _HOST_RE.match(value):
        raise ValueError("a host name or address (letters, digits, '.', '-', '_')")
    return value


def parse_optional_host(raw: str) -> str:
    return parse_host(raw) if raw.strip() else ""


def parse_host_list_nonempty(raw: str) -> tuple[str, ...]:
    hosts = parse_host_list(raw)
    if not hosts:
        raise ValueError("a comma-separated list of at least one host name")
    return hosts


def parse_host_list(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
    for host in hosts:
        if not _HOST_RE.match(host):
            raise ValueError("a comma-separated list of host names")
    if len(set(hosts)) != len(hosts):
        raise ValueError("a comma-separated list of distinct host names")
    return hosts


def parse_name_list(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if not _IDENT_RE.match(name):
            raise ValueError("a comma-separated list of library names")
    return names


def parse_identifier(raw: str) -> str:
    value = raw.strip()
    if not _IDENT_RE.match(value):
        raise ValueError("an SQL identifier (letters, digits, '_', not starting with a digit)")
    return value


def parse_optional_identifier(raw: str) -> str:
    return parse_identifier(raw) if raw.strip() else ""


def parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR"):
        raise ValueError("one of DEBUG, INFO, NOTICE, WARNING, ERROR")
    return value


def parse_http_tls(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("0", "1", "required"):
        raise ValueError("0, 1 or required")
    return value


def parse_symbol(raw: str) -> str:
    if len(raw) != 1 or raw.isspace() or raw.isalnum() or raw == "_":
        raise ValueError("one punctuation character")
    return raw


def split_configs(raw: str, delimiter: str, assignment: str) -> tuple[tuple[str, str], ...]:
    """Split CONFIGS into exact (key, value) pairs; a later duplicate key wins."""
    if delimiter == assignment:
        raise ValueError("different delimiter and assignment symbols")
    pairs: dict[str, str] = {}
    for position, chunk in enumerate(raw.split(delimiter), start=1):
        if not chunk.strip():
            continue
        if assignment not in chunk:
            raise ValueError(
                f"key{assignment}value pairs separated by {delimiter!r}; "
                f"pair {position} {chunk!r} has no {assignment!r}"
            )
        key, value = chunk.split(assignment, 1)
        key = key.strip()
        if not _CONF_KEY_RE.match(key):
            raise ValueError(f"a setting name in pair {position}, found {key!r}")
        pairs[key] = value.strip()
    return tuple(pairs.items())


def pgpool_conf_value_problem(value: str) -> str | None:
    """Why a CONFIGS value cannot go into pgpool.conf (its lexer has no escapes), or None."""
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value
    if "'" in inner or "\\" in inner:
        return "no quote or backslash inside a value (pgpool.conf has no escapes)"
    return None


def trailing_number(name: str) -> int | None:
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else None


# pgpool backend flags (pgpool-II 4.3).
BACKEND_FLAGS = ("ALLOW_TO_FAILOVER", "DISALLOW_TO_FAILOVER", "ALWAYS_PRIMARY")
BACKEND_FORMAT = "num:host:port:weight:data_directory:flag"


def parse_backends(raw: str) -> tuple[tuple[int, str, int, float, str, str], ...]:
    """BACKENDS entries as (num, host, port, weight, data_directory, flag); empty fields take defaults."""
    entries: list[tuple[int, str, int, float, str, str]] = []
    for position, chunk in enumerate((c.strip() for c in raw.split(",")), start=1):
        if not chunk:
            continue
        fields = chunk.split(":")
        if len(fields) > 6:
            raise ValueError(f"entries {BACKEND_FORMAT}; entry {position} {chunk!r} has {len(fields)} fields")
        fields += [""] * (6 - len(fields))
        num, host, port, weight, data_dir, flag = (f.strip() for f in fields)
        try:
            number = _int_between(num, 0, 127)
            name = parse_host(host)
            port_number = parse_port(port or "5432")
            weight_value = float(weight or "1")
            if weight_value < 0 or not math.isfinite(weight_value):
                raise ValueError
            data_dir = parse_path(data_dir) if data_dir else data_dir
        except ValueError:
            raise ValueError(
                f"entries {BACKEND_FORMAT} (num 0-127, a host, a port, a finite weight >= 0, an absolute path); "
                f"entry {position} {chunk!r} is not"
            ) from None
        flag = (flag or "ALLOW_TO_FAILOVER").upper()
        if flag not in BACKEND_FLAGS:
            raise ValueError(f"a flag among {', '.join(BACKEND_FLAGS)}; entry {position} {chunk!r} has {flag!r}")
        entries.append((number, name, port_number, weight_value, data_dir or "/var/lib/postgresql/data", flag))
    if not entries:
        raise ValueError(f"at least one entry {BACKEND_FORMAT}")
    numbers = [e[0] for e in entries]
    if len(set(numbers)) != len(numbers):
        raise ValueError("distinct backend numbers")
    return tuple(entries)


def parse_user_pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """DB_USERS: user:password pairs separated by ',' or new lines; the password is masked in errors."""
    pairs: dict[str, str] = {}
    for position, chunk in enumerate((c.strip() for c in raw.replace("\n", ",").split(",")), start=1):
        if not chunk:
            continue
        user, sep, password = chunk.partition(":")
        shown = f"{user}:***" if sep else chunk[:1] + "***"
        if not sep or not password or not _IDENT_RE.match(user.strip()) or _CONTROL_RE.search(password):
            raise ValueError(
                f"user:password pairs (a user name, ':', a non-empty password without control characters); "
                f"pair {position} {shown!r} is not"
            )
        pairs[user.strip()] = password
    return tuple(pairs.items())


CRON_EXPECTED = "a cron expression of five fields, minute hour day month weekday (e.g. '0 0 * * *')"


def parse_cron(raw: str) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week), checked by croniter."""
    from croniter import croniter  # a maintained parser, not a regex

    value = " ".join(raw.split())
    if len(value.split(" ")) != 5 or not croniter.is_valid(value):
        raise ValueError(CRON_EXPECTED)
    return value


def parse_optional_cron(raw: str) -> str:
    """Empty (never), or a cron expression as parse_cron takes it."""
    if not raw.strip():
        return ""
    try:
        return parse_cron(raw)
    except ValueError:
        raise ValueError("nothing (never) or " + CRON_EXPECTED) from None


def parse_days(raw: str) -> int:
    return _int_between(raw, 1, 36_500)


_VALIDITY_RE = re.compile(r"(\d{1,6})([mhd]?)")
_UNIT_S = {"m": 60, "h": 3600, "d": 86_400, "": 86_400}


def parse_validity(raw: str) -> int:
    """A certificate's validity in seconds: whole days (`90`), or a number with `m`, `h` or `d`."""
    match = _VALIDITY_RE.fullmatch(raw.strip())
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if not 120 <= seconds <= 36_500 * 86_400:
        raise ValueError("whole days (`90`), or a number with m, h or d (`2m`, `12h`), from 2m to 36500d")
    return seconds


def parse_path(raw: str) -> str:
    value = raw.strip()
    if not value.startswith("/") or any(c.isspace() or c in "'\"\\" or c < " " for c in value):
        raise ValueError("an absolute path without spaces, quotes or backslashes")
    return value.rstrip("/") or "/"


def parse_networks(raw: str) -> tuple[str, ...]:
    """ALLOWED_NETWORKS: CIDRs (normalised: host bits cleared) or postgres's samenet/samehost keywords."""
    import ipaddress

    found: list[str] = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        if item in ("samenet", "samehost"):
            found.append(item)
            continue
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"a comma-separated list of CIDRs (e.g. 10.0.0.0/8) or samenet; {item!r} is not") from None
    if not found:
        raise ValueError("at least one CIDR (e.g. 10.0.0.0/8) or samenet")
    return tuple(dict.fromkeys(found))


_S3_URL_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?$")
_HTTP_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._/-]*)?$")


def parse_optional_s3_url(raw: str) -> str:
    """Empty, or an S3 bucket with an optional folder: s3://bucket/path."""
    value = raw.strip().rstrip("/")
    if value and not _S3_URL_RE.match(value):
        raise ValueError("empty, or s3://BUCKET[/FOLDER] (a bucket name of lower-case letters, digits, '.' and '-')")
    return value


def parse_optional_http_url(raw: str) -> str:
    """Empty, or an http(s) URL of a host, with an optional port and path."""
    value = raw.strip().rstrip("/")
    if value and not _HTTP_URL_RE.match(value):
        raise ValueError("empty, or http(s)://HOST[:PORT][/PATH]")
    return value
