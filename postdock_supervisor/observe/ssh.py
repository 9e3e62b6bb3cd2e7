"""The validity window of this container's SSH host certificate, as ssh-keygen reads it."""

from datetime import datetime
from pathlib import Path

from postdock_supervisor import proc
from postdock_supervisor.model.tls import Certificate


def parse_validity(text: str) -> Certificate:
    """`ssh-keygen -L` -> the window as epoch seconds. ssh-keygen prints it in the container's time
    zone, as Python reads a naive time; `forever` or a certificate without one counts as unreadable,
    so it is signed again with a limit."""
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["Valid:", "from"] and len(words) == 5 and words[3] == "to":
            try:
                start, end = (datetime.fromisoformat(words[i]).timestamp() for i in (2, 4))
            except ValueError:
                return Certificate()
            return Certificate(start, end)
    return Certificate()


def read_host_certificate(cert: Path) -> Certificate:
    if not cert.exists():
        return Certificate()
    done = proc.run(["ssh-keygen", "-L", "-f", str(cert)], timeout=10, quiet=True)
    return parse_validity(done.output) if done.ok else Certificate()
