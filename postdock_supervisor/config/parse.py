"""Small named coercions from environment strings; each raises ValueError with what it expected."""

import re

# Docker service names may hold "_" and its DNS resolves them, so it is accepted here.
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-]*[A-Za-z0-9])?$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONF_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def parse_str(raw: str) -> str:
    return raw


def parse_nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("a non-empty value")
    return raw.strip()


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


def parse_seconds(raw: str) -> int:
    return _int_between(raw, 1, 86_400)


def parse_priority(raw: str) -> int:
    return _int_between(raw, 0, 1_000_000)


def parse_node_id(raw: str) -> int | None:
    if not raw.strip():
        return None
    return _int_between(raw, 1, 2_147_483_647)


def parse_host(raw: str) -> str:
    value = raw.strip()
    if not _HOST_RE.match(value):
        raise ValueError("a host name or address (letters, digits, '.', '-', '_')")
    return value


def parse_optional_host(raw: str) -> str:
    return parse_host(raw) if raw.strip() else ""


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


def parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR"):
        raise ValueError("one of DEBUG, INFO, NOTICE, WARNING, ERROR")
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
                f"key{assignment}value pairs separated by '{delimiter}'; "
                f"pair {position} '{chunk}' has no '{assignment}'"
            )
        key, value = chunk.split(assignment, 1)
        key = key.strip()
        if not _CONF_KEY_RE.match(key):
            raise ValueError(f"a setting name in pair {position}, found '{key}'")
        pairs[key] = value.strip()
    return tuple(pairs.items())


def trailing_number(name: str) -> int | None:
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else None
