"""One small exception hierarchy for the whole package."""


class PostdockError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(PostdockError):
    """The environment does not describe a valid node; carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ProbeError(PostdockError):
    """An observation could not be made (a peer or a local tool did not answer)."""


class ActionError(PostdockError):
    """A side effect (a command, an RPC call) failed."""
