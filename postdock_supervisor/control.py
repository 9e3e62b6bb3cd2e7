"""The authenticated control channel between postdock commands and the nodes' agents.

A request is a JSON body signed with HMAC-SHA256 keyed by REPLICATION_PASSWORD, which every postgres
node already holds: no SSH, no new secret. The body carries its time and a random nonce, so a
captured request is refused once it is older than MAX_AGE_S or replayed. The password never travels."""

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from typing import Any

HEADER = "X-Postdock-Signature"
MAX_AGE_S = 30.0


class ControlError(Exception):
    """A control call that failed: refused by the node, unreachable, or a failed action."""


def sign(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def request_body(action: str, args: dict[str, Any], now: float | None = None) -> bytes:
    at = time.time() if now is None else now
    return json.dumps({"action": action, "args": args, "at": at, "nonce": secrets.token_hex(16)}).encode()


class Verifier:
    """The agent's side: the signature, the age, and nonces seen within MAX_AGE_S."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, body: bytes, signature: str, now: float | None = None) -> dict[str, Any]:
        """The request, or ControlError with why it is refused."""
        if not hmac.compare_digest(sign(self._key, body), signature or ""):
            raise ControlError("bad signature")
        try:
            request = json.loads(body)
            at, nonce, action = float(request["at"]), str(request["nonce"]), str(request["action"])
        except (ValueError, KeyError, TypeError):
            raise ControlError("malformed request") from None
        now = time.time() if now is None else now
        if abs(now - at) > MAX_AGE_S:
            raise ControlError(f"request is {now - at:.0f}s old (clocks apart?)")
        with self._lock:
            self._seen = {n: t for n, t in self._seen.items() if now - t <= MAX_AGE_S}
            if nonce in self._seen:
                raise ControlError("replayed request")
            self._seen[nonce] = now
        return {"action": action, "args": dict(request.get("args") or {})}


def post(host: str, port: int, key: str, action: str, args: dict[str, Any], timeout: float) -> Any:
    """POST a signed action to a node's agent; its JSON answer, or ControlError when none came."""
    body = request_body(action, args)
    req = urllib.request.Request(
        f"http://{host}:{port}/control",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", HEADER: sign(key, body)},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace").strip()
        raise ControlError(f"{host} refused {action}: {detail or exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise ControlError(f"{host} did not answer {action}: {exc}") from None


def call(host: str, port: int, key: str, action: str, args: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """A signed action that must succeed: its JSON answer, or ControlError."""
    answer = post(host, port, key, action, args, timeout)
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise ControlError(f"{host}: {action} failed: {answer.get('error') if isinstance(answer, dict) else answer}")
    return answer
