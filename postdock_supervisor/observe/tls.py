"""The validity window of this node's TLS certificate, as openssl reads it."""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from postdock_supervisor import proc
from postdock_supervisor.model.tls import Certificate

_FORMAT = "%b %d %H:%M:%S %Y %Z"  # openssl's dates: 'Dec  4 21:50:00 2026 GMT'


def parse_dates(text: str) -> Certificate:
    """`openssl x509 -noout -startdate -enddate` -> the validity window as epoch seconds."""
    dates = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        start = datetime.strptime(" ".join(dates["notBefore"].split()), _FORMAT)
        end = datetime.strptime(" ".join(dates["notAfter"].split()), _FORMAT)
    except (KeyError, ValueError):
        return Certificate()
    return Certificate(_utc(start), _utc(end))


def _utc(moment: datetime) -> float:
    return (moment - datetime(1970, 1, 1)).total_seconds()


def read_certificate(cert: Path) -> Certificate:
    if not cert.exists():
        return Certificate()
    done = proc.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-in", str(cert)], timeout=10, quiet=True)
    return parse_dates(done.output) if done.ok else Certificate()


class CertificateFile:
    """A certificate file read again only when it changed (its reader runs a process, openssl or
    ssh-keygen; a stat is cheap)."""

    def __init__(self, path: Path, reader: Callable[[Path], Certificate] = read_certificate) -> None:
        self.path = path
        self._reader = reader
        self._read: tuple[float, Certificate] | None = None

    def read(self) -> Certificate:
        mtime = self.path.stat().st_mtime if self.path.exists() else 0.0
        if self._read is None or self._read[0] != mtime:
            self._read = (mtime, self._reader(self.path))
        return self._read[1]
