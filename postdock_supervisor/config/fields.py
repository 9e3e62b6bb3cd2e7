"""The building blocks of a settings field: the variable's contract and a masked secret."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from postdock_supervisor.config import parse as p


class Secret:
    """A value that must never be printed; repr and str mask it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_secret(raw: str) -> Secret:
    return Secret(p.parse_secret_text(raw))


@dataclass(frozen=True)
class EnvVar:
    name: str
    doc: str
    parse: Callable[[str], Any]
    default: str | None  # the raw default; None means the variable is required
    secret: bool = False


def env(
    name: str, doc: str, parse: Callable[[str], Any] = p.parse_text, default: str | None = None, secret: bool = False
) -> Any:
    return field(metadata={"env": EnvVar(name, doc, parse, default, secret)})
