"""Proxies, certificates and connect retries from the environment (lcm_widgets.backends._net).

The proxy here is a real HTTP proxy written in this file (absolute-form forwarding and CONNECT)
on 127.0.0.1 port 0. It knows one name, ``fal.test``, which it maps to our real server on
127.0.0.1; nothing else resolves that name, so a request to ``http://fal.test`` succeeds only
if the client really went through the proxy. Every address used is 127.0.0.1.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from lcm_test_helpers import serving

from lcm_widgets.backends._net import http_client, is_loopback, no_proxy, proxy_for, ssl_context
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.backends.http import HttpBackend
from lcm_widgets.backends.realtime import RealtimeBackend
from lcm_widgets.errors import ConnectionClosed
from lcm_widgets.runtime.loop import run_sync

KEY = "proxy-id:proxy-secret"
APP = "fal-ai/fast-lcm-diffusion"
SMALL = {"prompt": "through the proxy", "seed": 3, "image_size": {"width": 64, "height": 64}}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
               "all_proxy", "no_proxy", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


class Proxy:
    """A small HTTP proxy on 127.0.0.1: ``seen`` lists each request line it was sent."""

    def __init__(self, names: dict[str, int]) -> None:
        self.names = names  # host name -> port on 127.0.0.1
        self.seen: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _upstream(self, host: str) -> socket.socket:
        name = host.rsplit(":", 1)[0]
        if name not in self.names:
            raise OSError(f"proxy: unknown host {host!r}")
        return socket.create_connection(("127.0.0.1", self.names[name]), timeout=30)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, rest = head.split(b"\r\n\r\n", 1)
            line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = line.split(" ")
            self.seen.append(f"{method} {target}")
            try:
                if method == "CONNECT":
                    up = self._upstream(target)
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self._pipe(conn, up, rest)
                    return
                scheme_host, _, path = target.partition("://")[2].partition("/")
                up = self._upstream(scheme_host)
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                return
            headers = [h for h in header_lines if h.split(":", 1)[0].lower()
                       not in ("connection", "proxy-connection", "keep-alive")]
            length = next((int(h.split(":", 1)[1]) for h in headers
                           if h.split(":", 1)[0].lower() == "content-length"), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            request = "\r\n".join([f"{method} /{path} {version}", *headers, "connection: close"])
            up.sendall(request.encode("latin-1") + b"\r\n\r\n" + rest)
            with up:  # one request per connection: the answer says "connection: close"
                while data := up.recv(65536):
                    conn.sendall(data)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket, first: bytes) -> None:
        if first:
            b.sendall(first)

        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        t = threading.Thread(target=copy, args=(b, a), daemon=True)
        t.start()
        copy(a, b)
        t.join(30)
        b.close()


@contextmanager
def fal_behind_proxy() -> Iterator[tuple[int, Proxy]]:
    """Our server (echo, auth on) on 127.0.0.1, and a proxy that maps ``fal.test`` to it."""
    with serving(EchoBackend(), keys=[KEY]) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        proxy = Proxy({"fal.test": port})
        try:
            yield port, proxy
        finally:
            proxy.close()


# ------------------------------------------------------------------ the rule


def test_loopback_hosts() -> None:
    for host in ("localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.9.9.9", "::1",
                 "[::1]"):
        assert is_loopback(host), host
    for host in ("fal.run", "10.0.0.1", "localhost.example.com", "", None, "::2"):
        assert not is_loopback(host), host


def test_proxy_for_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY for https/wss, HTTP_PROXY for http/ws, ALL_PROXY otherwise; loopback and
    NO_PROXY hosts go direct; a proxy without a scheme is http://."""
    assert proxy_for("https://fal.run/x") is None  # nothing set
    monkeypatch.setenv("HTTPS_PROXY", "http://corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "plain:8080")
    assert proxy_for("https://fal.run/x") == "http://corp:3128"
    assert proxy_for("wss://ws.fal.run/app/realtime") == "http://corp:3128"
    assert proxy_for("http://fal.run") == "http://plain:8080"
    assert proxy_for("ws://fal.run") == "http://plain:8080"
    for url in ("http://127.0.0.1:8000/x", "ws://localhost:1/realtime", "https://[::1]/"):
        assert proxy_for(url) is None, url
    monkeypatch.setenv("NO_PROXY", "internal.example, .fal.run,10.0.0.0/8")
    assert proxy_for("https://queue.fal.run/x") is None
    assert proxy_for("https://fal.run/x") is None
    assert proxy_for("http://10.1.2.3:9000/") is None
    assert proxy_for("http://internal.example/") is None
    assert proxy_for("http://notinternal.example/") == "http://plain:8080"
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("all_proxy", "http://every:1")
    assert proxy_for("https://fal.run") == "http://every:1"
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxy_for("https://fal.run") is None
    assert no_proxy("anything")


# ------------------------------------------------------------------ through a real proxy


def test_http_backend_goes_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """HttpBackend to http://fal.test with HTTP_PROXY set: the sync run and the queue (submit,
    status, result) all reach our server through the proxy."""
    with fal_behind_proxy() as (_, proxy):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        b = HttpBackend(APP, base_url="http://fal.test", key=KEY)
        try:
            assert b.generate_sync(SMALL, timeout=60).seed == 3
            assert run_sync(b.subscribe({**SMALL, "seed": 4}), 60).seed == 4
        finally:
            run_sync(b.aclose(), 10)
    assert f"POST http://fal.test/{APP}" in proxy.seen, proxy.seen
    assert f"POST http://fal.test/queue/{APP}" in proxy.seen, proxy.seen
    assert not [s for s in proxy.seen if "127.0.0.1" in s]


async def test_realtime_goes_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """RealtimeBackend to http://fal.test: the token mint (POST through the proxy) and the
    WebSocket (CONNECT through the proxy) both go the proxy's way."""
    with fal_behind_proxy() as (_, proxy):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        b = RealtimeBackend(APP, base_url="http://fal.test", key=KEY)
        try:
            assert (await b.generate(SMALL)).seed == 3
        finally:
            await b.aclose()
    assert "POST http://fal.test/tokens/" in proxy.seen, proxy.seen
    assert "CONNECT fal.test:80" in proxy.seen, proxy.seen


async def test_loopback_targets_bypass_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every proxy variable pointing at the proxy, a client of http://127.0.0.1:PORT
    (REST and realtime) connects directly: the proxy sees nothing."""
    with fal_behind_proxy() as (port, proxy):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        base = f"http://127.0.0.1:{port}"
        rt = RealtimeBackend(APP, base_url=base, key=KEY)
        rest = HttpBackend(APP, base_url=base, key=KEY)
        try:
            assert (await rt.generate(SMALL)).seed == 3
            assert (await rest.generate(SMALL)).seed == 3
        finally:
            await rt.aclose()
            await rest.aclose()
    assert proxy.seen == []


async def test_no_proxy_host_goes_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host listed in NO_PROXY is not sent to the proxy even though HTTP_PROXY is set (and,
    as fal.test resolves nowhere but in the proxy, the request then fails to connect)."""
    with fal_behind_proxy() as (_, proxy):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "fal.test")
        b = HttpBackend(APP, base_url="http://fal.test", key=KEY)
        try:
            with pytest.raises(ConnectionClosed, match=r"fal\.test"):
                await b.generate(SMALL)
        finally:
            await b.aclose()
    assert proxy.seen == []


# ------------------------------------------------------------------ retries


async def test_a_sent_request_is_never_sent_again() -> None:
    """Connect retries cover connection failures only: a server that reads the POST and hangs
    up gets it exactly once, and the caller gets ConnectionClosed."""
    got: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                got.append(conn.recv(65536))

    threading.Thread(target=hang_up, daemon=True).start()
    b = HttpBackend(APP, base_url=f"http://127.0.0.1:{server.getsockname()[1]}", key=KEY)
    try:
        with pytest.raises(ConnectionClosed):
            await b.generate(SMALL)
    finally:
        await b.aclose()
        server.close()
    assert len(got) == 1 and got[0].startswith(b"POST /"), got


async def test_connect_failures_are_retried_then_reported() -> None:
    """Nothing listening: the connect is retried, then ConnectionClosed names the URL."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens on it now
    client = http_client(5.0, retries=2)
    assert client._transport.retries == 2  # the transport every request goes through
    await client.aclose()
    b = HttpBackend(APP, base_url=f"http://127.0.0.1:{port}", key=KEY)
    try:
        with pytest.raises(ConnectionClosed, match=f"127.0.0.1:{port}"):
            await b.generate(SMALL)
    finally:
        await b.aclose()


# ------------------------------------------------------------------ certificates


def test_ssl_context_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    """SSL_CERT_FILE, else REQUESTS_CA_BUNDLE, names the bundle to trust; unset or missing:
    None (each library's default)."""
    assert ssl_context() is None
    bundle = ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    if not bundle or not Path(bundle).is_file():
        pytest.skip("no system CA bundle file to point at")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    ctx = ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.cert_store_stats()["x509_ca"] > 0
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert ssl_context() is not None  # a missing SSL_CERT_FILE falls through to the next
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert ssl_context() is None


@contextmanager
def tls_front(backend_port: int, cert: Path, key: Path) -> Iterator[int]:
    """TLS on 127.0.0.1 (``cert``/``key``) in front of our plain server: decrypts and relays."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    sock = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(raw: socket.socket) -> None:
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):  # the client refused our certificate
            raw.close()
            return
        up = socket.create_connection(("127.0.0.1", backend_port), timeout=30)
        Proxy._pipe(conn, up, b"")

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(raw,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        sock.close()


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no default trust store knows (openssl CLI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
async def test_a_custom_ca_bundle_is_trusted_for_https_and_wss(
        monkeypatch: pytest.MonkeyPatch, self_signed: tuple[Path, Path], variable: str) -> None:
    """Our server behind TLS with a certificate only the bundle knows: without the variable
    both clients refuse it (certificate verify failed); with it, REST and realtime work."""
    cert, key = self_signed
    with serving(EchoBackend(), keys=[KEY]) as srv, \
            tls_front(int(srv.url.rsplit(":", 1)[1]), cert, key) as port:
        base = f"https://127.0.0.1:{port}"
        rest = HttpBackend(APP, base_url=base, key=KEY)
        rt = RealtimeBackend(APP, base_url=base, key=KEY, use_jwt=False, max_reconnects=1)
        try:
            with pytest.raises(ConnectionClosed, match="CERTIFICATE_VERIFY_FAILED"):
                await rest.generate(SMALL)
            with pytest.raises(ConnectionClosed, match="CERTIFICATE_VERIFY_FAILED"):
                await rt.generate(SMALL)
        finally:
            await rest.aclose()
            await rt.aclose()
        monkeypatch.setenv(variable, str(cert))
        rest = HttpBackend(APP, base_url=base, key=KEY)
        rt = RealtimeBackend(APP, base_url=base, key=KEY, use_jwt=False)
        try:
            assert (await rest.generate(SMALL)).seed == 3
            assert (await rt.generate(SMALL)).seed == 3
        finally:
            await rest.aclose()
            await rt.aclose()
