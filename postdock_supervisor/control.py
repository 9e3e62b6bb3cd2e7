"""The authenticated control channel between postdock commands and the nodes' agents.

A request is a JSON body signed with HMAC-SHA256 under a key derived from the cluster's CONTROL_KEY
(REPLICATION_PASSWORD when it has none). The key is that secret stretched with PBKDF2 under this
channel's own label, so a captured request costs a guesser as much as postgres's SCRAM verifier does,
and the key is of no use anywhere else. The body names the method, the
path and the node it is meant for, its time and a random nonce: it is refused by any other node, once
it is older than MAX_AGE_S or more than MAX_SKEW_S ahead, and when replayed. The password never travels."""

import functools
import hashlib
import hmac
import ipaddress
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from postdock_supervisor import wire
from postdock_supervisor.config.control import ControlKeys

HEADER = "X-Postdock-Signature"
MAX_AGE_S = 30.0
MAX_SKEW_S = 5.0  # how far ahead of the agent's clock a request may be (clocks of other hosts)
PATH = "/control"
_LABEL = b"postdock control channel v1"
_ITERATIONS = 4096  # as postgres's scram_iterations default


class ControlError(Exception):
    """A control call that failed: refused by the node, unreachable, or a failed action."""


@functools.lru_cache(maxsize=4)
def channel_key(password: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), _LABEL, _ITERATIONS)


def sign(password: str, body: bytes) -> str:
    return hmac.new(channel_key(password), body, hashlib.sha256).hexdigest()


def sign_status(password: str, nonce: str, body: bytes) -> str:
    """An agent's signature of its /status answer to the reader's nonce: a forged or replayed report
    (a "newer primary" that makes a primary step down or a node wipe its data) fails it."""
    return hmac.new(channel_key(password), b"status\n" + nonce.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def sign_answer(password: str, request_signature: str, body: bytes) -> str:
    """An agent's signature of its answer to one request, bound to that request's own signature (so to
    its nonce): a forged answer (a lease granted, or "no live grant" to a candidate, by nobody) or one
    replayed from another exchange is refused, as a forged request is by the agent."""
    bound = b"answer\n" + request_signature.encode() + b"\n" + body
    return hmac.new(channel_key(password), bound, hashlib.sha256).hexdigest()


def _legacy_sign(password: str, body: bytes) -> str:
    """0.1.0's signature, keyed by the bare password (CONTROL_ACCEPT_LEGACY during an upgrade only)."""
    return hmac.new(password.encode(), body, hashlib.sha256).hexdigest()


def request_body(action: str, args: dict[str, Any], target: str, now: float | None = None) -> bytes:
    at = time.time() if now is None else now
    request = {"method": "POST", "path": PATH, "target": target, "action": action, "args": args, "at": at}
    return json.dumps({**request, "nonce": secrets.token_hex(16)}).encode()


def names_match(target: str, names: Iterable[str]) -> bool:
    """The name a caller used reaches this node: one of its names, or the same name with more or fewer
    domain labels (a Kubernetes pod is reached as pod.service or pod.service.namespace.svc...)."""

    def same(a: str, b: str) -> bool:
        if a == b:
            return True
        if _is_address(a) or _is_address(b):
            return False
        return a.startswith(b + ".") or b.startswith(a + ".")

    return any(same(target, name) for name in names if name)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def signed_by_one_of(keys: Iterable[str], signature: str, signer: Callable[[str], str]) -> bool:
    """The signature is `signer(key)` for one of `keys` (the signing key, or one accepted during a rotation)."""
    return any(hmac.compare_digest(signer(key), signature or "") for key in keys if key)


class Verifier:
    """The agent's side: the signature, the target, the time, and every nonce until its request expires.
    keys: the accepted keys; legacy_key: also accept 0.1.0's signature by this bare password."""

    def __init__(self, keys: tuple[str, ...], names: Iterable[str], legacy_key: str = "") -> None:
        self._keys = keys
        self._names = tuple(names)
        self._legacy_key = legacy_key
        self._seen: dict[str, float] = {}  # nonce -> when its request expires
        self._lock = threading.Lock()

    def signer(self, body: bytes, signature: str) -> str:
        """The accepted key that signed this request ('' for none): the answer is signed with it, so
        that a caller on either side of a key rotation can check it."""
        return next((k for k in self._keys if k and hmac.compare_digest(sign(k, body), signature or "")), "")

    def verify(self, body: bytes, signature: str, method: str = "POST", path: str = PATH,
               now: float | None = None) -> dict[str, Any]:  # fmt: skip
        """The request, or ControlError with why it is refused."""
        legacy = False
        if not signed_by_one_of(self._keys, signature, lambda key: sign(key, body)):
            legacy = signed_by_one_of([self._legacy_key], signature, lambda key: _legacy_sign(key, body))
            if not legacy:
                raise ControlError("bad signature")
        try:
            request = json.loads(body)
            at, nonce, action = float(request["at"]), str(request["nonce"]), str(request["action"])
            if legacy:  # 0.1.0 bound nothing: taken as meant for this node
                request = {**request, "method": method, "path": path, "target": self._names[0]}
            bound = (str(request["method"]), str(request["path"]), str(request["target"]))
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ControlError("malformed request") from None
        if bound[:2] != (method, path) or not names_match(bound[2], self._names):
            raise ControlError(f"request meant for {bound[0]} {bound[1]} on {bound[2]!r}, not this node")
        now = time.time() if now is None else now
        if not math.isfinite(at) or at > now + MAX_SKEW_S or now - at > MAX_AGE_S:
            raise ControlError(f"request time {at} is outside [now - {MAX_AGE_S:g}s, now + {MAX_SKEW_S:g}s]")
        with self._lock:
            self._seen = {n: expiry for n, expiry in self._seen.items() if expiry >= now}
            if nonce in self._seen:
                raise ControlError("replayed request")
            self._seen[nonce] = at + MAX_AGE_S
        return {"action": action, "args": dict(args)}


def _keys(key: str | ControlKeys) -> ControlKeys:
    return key if isinstance(key, ControlKeys) else ControlKeys(key, (key,))


def post(host: str, port: int, key: str | ControlKeys, action: str, args: dict[str, Any], timeout: float,
         target: str | None = None) -> Any:  # fmt: skip
    """POST a signed action to a node's agent; its JSON answer, or ControlError when none came or it
    is not signed by the agent for this request (a bare key: that key signs and verifies).
    timeout bounds the whole exchange, the action included; target: the node's name when host is
    another way to reach it (the request is signed for that name)."""
    keys = _keys(key)
    body = request_body(action, args, target or host)
    signature = sign(keys.sign, body)
    headers = {"Content-Type": "application/json", HEADER: signature}
    try:
        status, answer, got = wire.exchange(host, port, "POST", PATH, body, headers, timeout=timeout)
        text = answer.decode("utf-8", errors="replace")
        if status != 200:
            raise ControlError(f"{host} refused {action}: {text.strip() or status}")
        signed = got.get(HEADER.lower(), "")
        if not (keys.accept_unsigned and not signed) and not signed_by_one_of(
            keys.accepted, signed, lambda k: sign_answer(k, signature, answer)
        ):
            raise ControlError(f"{host}'s answer to {action} is not signed with the cluster's key for this request")
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ControlError(f"{host} did not answer {action}: {exc}") from None


def call(host: str, port: int, key: str | ControlKeys, action: str, args: dict[str, Any], timeout: float = 120,
         target: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A signed action that must succeed: its JSON answer, or ControlError."""
    answer = post(host, port, key, action, args, timeout, target)
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise ControlError(f"{host}: {action} failed: {answer.get('error') if isinstance(answer, dict) else answer}")
    return answer
