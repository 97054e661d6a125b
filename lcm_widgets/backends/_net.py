"""The network environment every client here honours: proxies, certificates, connect retries.

docs/remote.md ("Proxies and certificates") describes it for users. The rules:

* **Proxies** come from the environment, as httpx and websockets read them by default:
  ``HTTPS_PROXY`` for ``https://`` and ``wss://`` URLs, ``HTTP_PROXY`` for ``http://`` and
  ``ws://``, ``ALL_PROXY`` for either (lower-case names too), and ``NO_PROXY`` lists hosts to
  reach directly. A loopback target (``localhost``, ``127.0.0.0/8``, ``::1``) is always reached
  directly: a local ``lcm-widgets serve`` must keep working behind a corporate proxy.
  :func:`proxy_for` is the one place that decides.
* **Certificates**: ``SSL_CERT_FILE`` or ``REQUESTS_CA_BUNDLE`` (a PEM bundle, e.g. a corporate
  CA) replaces the default trust store for HTTPS and WSS (:func:`ssl_context`).
* **Retries**: the HTTP transport retries a failed *connect* (:data:`CONNECT_RETRIES` times);
  a request that reached the server is never sent twice, so no POST runs twice.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = ["CONNECT_RETRIES", "http_client", "is_loopback", "no_proxy", "proxy_for",
           "ssl_context", "ws_options"]

#: Connect attempts after the first that the HTTP transport makes (httpcore retries only
#: connection failures, never a request that was sent).
CONNECT_RETRIES = 2
_PROXY_SCHEME = {"http": "http", "ws": "http", "https": "https", "wss": "https"}


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` (and ``*.localhost``), ``127.0.0.0/8`` and ``::1``."""
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def proxy_for(url: str) -> str | None:
    """The proxy URL the environment asks for to reach ``url``, or None to connect directly
    (loopback target, listed in ``NO_PROXY``, or no proxy variable set)."""
    parts = urlsplit(url)
    host = parts.hostname
    scheme = _PROXY_SCHEME.get(parts.scheme.lower())
    if scheme is None or host is None or is_loopback(host):
        return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    if no_proxy(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def no_proxy(host: str) -> bool:
    """True when ``NO_PROXY`` (or ``no_proxy``) lists ``host``: ``*``, the host itself, a parent
    domain (``example.com`` or ``.example.com`` covers ``api.example.com``) or a network
    (``10.0.0.0/8``), as curl, requests and httpx read it."""
    raw = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    host = host.strip("[]").lower().rstrip(".")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (e.strip().lower() for e in raw.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None and any(c.isdigit() for c in entry):
            try:
                if ip in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
        name = entry.removeprefix("*").removeprefix(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def ssl_context() -> ssl.SSLContext | None:
    """A context trusting ``SSL_CERT_FILE`` or ``REQUESTS_CA_BUNDLE`` when one is set (and
    names a file), else None: each library's own default."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        path = os.environ.get(name)
        if path and os.path.isfile(path):
            return ssl.create_default_context(cafile=path)
    return None


def http_client(timeout: float, *, retries: int = CONNECT_RETRIES) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that routes each request by :func:`proxy_for`, trusts
    :func:`ssl_context`'s bundle, and retries failed connects."""
    import httpx

    return httpx.AsyncClient(timeout=timeout, transport=_routing_class()(retries),
                             trust_env=False)


@functools.cache
def _routing_class() -> Any:
    """The transport class, defined on first use (httpx is imported lazily)."""
    import httpx

    class Routing(httpx.AsyncBaseTransport):
        """One ``AsyncHTTPTransport`` per proxy (``None`` = direct), chosen per request."""

        def __init__(self, retries: int) -> None:
            self.retries = retries
            self._verify: Any = ssl_context() or True
            self._transports: dict[str | None, httpx.AsyncHTTPTransport] = {}

        def transport(self, proxy: str | None) -> httpx.AsyncHTTPTransport:
            transport = self._transports.get(proxy)
            if transport is None:
                transport = httpx.AsyncHTTPTransport(verify=self._verify, retries=self.retries,
                                                     proxy=proxy, trust_env=False)
                self._transports[proxy] = transport
            return transport

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            proxy = proxy_for(str(request.url))
            return await self.transport(proxy).handle_async_request(request)

        async def aclose(self) -> None:
            transports, self._transports = list(self._transports.values()), {}
            for transport in transports:
                await transport.aclose()

    return Routing


def ws_options(url: str) -> dict[str, Any]:
    """``websockets.asyncio.client.connect`` keyword arguments for ``url``: the proxy (or None:
    direct) and, for ``wss://`` with a custom bundle, the SSL context."""
    opts: dict[str, Any] = {"proxy": proxy_for(url)}
    if urlsplit(url).scheme == "wss":
        ctx = ssl_context()
        if ctx is not None:
            opts["ssl"] = ctx
    return opts
