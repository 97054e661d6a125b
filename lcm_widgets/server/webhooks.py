"""Webhook delivery for queue jobs submitted with ``?fal_webhook=<url>`` (docs/server.md,
"Webhooks").

When a job finishes, its receiver gets ``POST <url>`` with JSON
``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error"?}``.
A delivery that fails with a network error, 408, 429 or a 5xx is retried with exponential
backoff (``backoff * 2**n`` seconds, capped at ``max_backoff``) up to ``attempts`` times; any
other answer ends it. Deliveries run as background tasks and never delay the model worker.

**Destinations.** The server never posts to loopback, private, link-local (cloud metadata,
``169.254.169.254``), multicast, reserved or otherwise non-global addresses unless they lie in
an allowed network (``ServerConfig.webhook_allow``, ``serve --webhook-allow``). An IP literal
is checked when the job is submitted (a 422); a name is resolved **at delivery time**, every
address it resolves to is checked, and the request goes to the checked address itself (the
``Host`` header and TLS name stay the URL's), so a name that changes its answer between check
and connect gains nothing. Redirects are not followed.

**Signatures.** Each delivery carries ``x-lcm-widgets-signature: t=<unix seconds>,v1=<hex>``,
where ``v1`` is HMAC-SHA256, keyed with the secret of the API key that submitted the job (the
part after ``:``), over ``f"{t}."`` followed by the exact body bytes. A receiver recomputes it
(:func:`verify_signature`) and rejects a stale ``t``. With auth off there is no key, and no
signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse, urlunparse

import httpx

__all__ = ["SIGNATURE_HEADER", "WebhookSender", "check_webhook_url", "refused_address",
           "sign", "verify_signature"]

log = logging.getLogger("lcm_widgets.server")

_RETRY_STATUS = {408, 429}
SIGNATURE_HEADER = "x-lcm-widgets-signature"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Job(Protocol):
    logs: list[dict[str, Any]]
    owner: str


def _networks(allow: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(a, strict=False) for a in allow]


def refused_address(ip: IPAddress, allow: Sequence[str] = ()) -> str | None:
    """Why a webhook may not go to ``ip`` (``"loopback"``, ``"private"``, ...), or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _networks(allow) if net.version == ip.version):
        return None
    for kind, bad in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                      ("link-local (where cloud metadata lives)", ip.is_link_local),
                      ("multicast", ip.is_multicast), ("private", ip.is_private),
                      ("reserved", ip.is_reserved), ("non-global", not ip.is_global)):
        if bad:
            return kind
    return None


def _refusal(url: str, ip: IPAddress, kind: str) -> str:
    return (f"fal_webhook: {url[:100]!r} points at {ip}, a {kind} address; this server does "
            "not post webhooks there unless the network is allowed (ServerConfig."
            "webhook_allow, serve --webhook-allow)")


def check_webhook_url(url: str, *, allow: Sequence[str] = ()) -> str | None:
    """An error message for a webhook URL refused at submit time, else None: not http(s), or
    an IP literal in a refused range (names are checked when the webhook is delivered)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return f"fal_webhook: must be an http(s) URL, got {url[:100]!r}"
    try:
        ip = ipaddress.ip_address(parsed.hostname)
    except ValueError:
        return None
    kind = refused_address(ip, allow)
    return _refusal(url, ip, kind) if kind else None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``x-lcm-widgets-signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: float = 300.0,
                     now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` (the part of the API key after ``:``)
    and is at most ``tolerance`` seconds old: what a receiver checks."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class _Refused(Exception):
    """The destination resolves to an address webhooks may not go to."""


class WebhookSender:
    """Posts webhook bodies with retries; :meth:`aclose` waits for none and cancels all.

    ``secret_for(owner)`` gives the signing secret of a job's owner (None: unsigned);
    ``allow`` the networks that may be delivered to although refused by default.
    """

    def __init__(self, *, attempts: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 timeout: float = 10.0, allow: Sequence[str] = (),
                 secret_for: Callable[[str], str | None] | None = None) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.allow = tuple(allow)
        self.secret_for = secret_for
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0
        self.refused = 0

    def deliver(self, url: str, body: dict[str, Any], job: _Job | None = None,
                on_done: Callable[[bool], None] | None = None) -> None:
        """Start delivering ``body`` to ``url`` in the background; ``on_done(delivered)`` is
        called once it ends either way (not when cancelled by :meth:`aclose`)."""
        task = asyncio.get_running_loop().create_task(self._deliver(url, body, job, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The URL to connect to (the checked address), the Host header and TLS name."""
        parsed = urlparse(url)
        host = parsed.hostname or ""
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
        addrs = list(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%", 1)[0])
                                   for i in infos))
        if not addrs:
            raise _Refused(f"fal_webhook: {host!r} resolves to no address")
        for ip in addrs:  # every answer must be acceptable, not just the first
            if kind := refused_address(ip, self.allow):
                raise _Refused(_refusal(url, ip, kind))
        ip = addrs[0]
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = f"{literal}:{port}"
        if parsed.username or parsed.password:  # pragma: no cover - userinfo is kept as given
            netloc = parsed.netloc.rsplit("@", 1)[0] + "@" + netloc
        target = urlunparse(parsed._replace(netloc=netloc))
        host_header = parsed.netloc.rsplit("@", 1)[-1]
        ext = {"sni_hostname": host} if parsed.scheme == "https" else {}
        return target, {"host": host_header}, ext

    async def _deliver(self, url: str, body: dict[str, Any], job: _Job | None,
                       on_done: Callable[[bool], None] | None) -> None:
        ok = await self._attempts(url, body, job)
        if on_done is not None:
            try:
                on_done(ok)
            except Exception:  # pragma: no cover - a broken callback must not be lost silently
                log.exception("webhook callback failed")

    async def _attempts(self, url: str, body: dict[str, Any], job: _Job | None) -> bool:
        from .jobs import _log_entry

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        data = json.dumps(body, separators=(",", ":")).encode()
        secret = None
        if job is not None and self.secret_for is not None:
            key = self.secret_for(job.owner)
            secret = key.split(":", 1)[1] if key and ":" in key else key
        for attempt in range(1, self.attempts + 1):
            headers = {"content-type": "application/json",
                       "x-fal-webhook-request-id": str(body.get("request_id", ""))}
            if secret:
                headers[SIGNATURE_HEADER] = sign(secret, data, int(time.time()))
            try:
                target, host, ext = await self._resolve(url)
                resp = await self._client.post(target, content=data, headers={**headers, **host},
                                               extensions=ext)
                problem = None if resp.status_code < 500 and \
                    resp.status_code not in _RETRY_STATUS else f"HTTP {resp.status_code}"
                if problem is None and resp.status_code >= 400:
                    self.failed += 1
                    msg = f"webhook {url} refused the delivery with HTTP {resp.status_code}"
                    if job is not None:
                        job.logs.append(_log_entry(msg, "WARN"))
                    return False
            except _Refused as exc:
                self.refused += 1
                self.failed += 1
                log.warning("webhook not delivered: %s", exc)
                if job is not None:
                    job.logs.append(_log_entry(f"webhook not delivered: {exc}", "ERROR"))
                return False
            except (httpx.HTTPError, OSError) as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            if problem is None:
                self.delivered += 1
                if job is not None:
                    job.logs.append(_log_entry(f"webhook delivered (attempt {attempt})"))
                return True
            log.warning("webhook %s attempt %d/%d failed: %s", url, attempt, self.attempts,
                        problem)
            if job is not None:
                job.logs.append(_log_entry(f"webhook attempt {attempt} failed: {problem}",
                                           "WARN"))
            if attempt < self.attempts:
                await asyncio.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        self.failed += 1
        return False

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
