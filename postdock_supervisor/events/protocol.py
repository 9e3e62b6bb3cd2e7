"""The only module that speaks supervisord's event listener protocol.

stdout belongs to the protocol; everything else logs to stderr. The payload length counts
characters (supervisor 4 writes `len` of a str), so the streams are text, read as text."""

from typing import TextIO

from supervisor import childutils
from supervisor.events import ProcessCommunicationEvent


def wait(stdin: TextIO, stdout: TextIO) -> tuple[dict[str, str], str]:
    """Send READY, then block for one event: (headers, payload)."""
    headers, payload = childutils.listener.wait(stdin, stdout)
    return dict(headers), str(payload)


def ok(stdout: TextIO) -> None:
    """Acknowledge. Always OK: a FAIL is re-delivered at once, head of the queue, and loops."""
    childutils.listener.ok(stdout)


def send(data: str, stdout: TextIO) -> None:
    """From a capture-mode program: becomes a PROCESS_COMMUNICATION_STDOUT event.

    Not childutils.pcomm.send: it writes its bytes markers into a text stream and fails."""
    begin = ProcessCommunicationEvent.BEGIN_TOKEN.decode()
    end = ProcessCommunicationEvent.END_TOKEN.decode()
    stdout.write(f"{begin}{data}{end}")
    stdout.flush()
