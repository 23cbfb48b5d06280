"""The SSRF-safe fetcher against real servers on 127.0.0.1: what it downloads, and everything it
refuses without opening a connection. 127.0.0.1 is not public, so successful fetches go through the
allow-list, which is what it exists for."""

import contextlib
import dataclasses
import datetime
import functools
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deployments.protocol import FetchError
from deployments.scraper import fetch as fetch_module
from deployments.scraper.fetch import IMAGE_POLICY, PAGE_POLICY, fetch, is_public_address

MiB = 1024 * 1024
LOCAL = dataclasses.replace(PAGE_POLICY, allow_list=("127.0.0.1/32",))
PAGE = "<html><head><title>Café</title></head><body>hello</body></html>".encode("latin-1")


class PageHandler(BaseHTTPRequestHandler):
    """Routes by the first path segment: /page, /redirect/N, /to?URL, /image, /missing, ..."""

    protocol_version = "HTTP/1.1"
    server: "PageServer"

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers))
        route, _, rest = self.path.lstrip("/").partition("/")
        getattr(self, "route_" + route.partition("?")[0].replace("-", "_"))(rest)

    def handle(self) -> None:
        # The fetcher hangs up on purpose when it refuses a response.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def log_message(self, *args) -> None:
        pass

    def send(self, status: int, body: bytes = PAGE, content_type: str | None = "text/html", **headers: str) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_page(self, rest: str) -> None:
        self.send(200, content_type="text/html; charset=ISO-8859-1")

    def route_redirect(self, rest: str) -> None:
        hops = int(rest)
        # A relative Location: the fetcher must resolve it against the current URL.
        self.send(302, b"", Location=str(hops - 1)) if hops else self.route_page(rest)

    def route_to(self, rest: str) -> None:
        self.send(302, b"", Location=unquote(self.path.partition("?")[2]))

    def route_image(self, rest: str) -> None:
        self.send(200, b"\x89PNG\r\n\x1a\n", content_type="Image/PNG; foo=bar")

    def route_missing(self, rest: str) -> None:
        self.send(404, b"not here")

    def route_untyped(self, rest: str) -> None:
        self.send(200, content_type=None)

    def route_gzip(self, rest: str) -> None:
        self.send(200, gzip.compress(PAGE), Content_Encoding="gzip")

    def route_gzip_bomb(self, rest: str) -> None:
        self.send(200, gzip_of_zeros(50 * MiB), Content_Encoding="gzip")

    def route_declared_big(self, rest: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(3 * MiB))
        self.end_headers()
        self.server.release.wait(10)  # the body only comes once the test is over

    def route_chunked_big(self, rest: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        try:
            while self.server.sent < 50 * MiB:
                self.wfile.write(chunk)
                self.server.sent += 64 * 1024
        except OSError:
            pass
        self.server.stream_done.set()

    def route_trickle(self, rest: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            while not self.server.release.wait(0.1):
                self.wfile.write(b"x")
                self.wfile.flush()
        except OSError:
            pass


class PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.port = self.server_address[1]
        self.requests: list = []
        self.sni: list[str | None] = []
        self.sent = 0
        self.release = threading.Event()
        self.stream_done = threading.Event()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class Canary:
    """A port that accepts connections and never answers. The kernel completes every handshake into
    the backlog, so counting needs no thread and cannot miss a connection that already happened."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []

    @property
    def connections(self) -> int:
        return self._accept_waiting()

    def _accept_waiting(self) -> int:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except BlockingIOError:
                return len(self.accepted)

    def close(self) -> None:
        self._accept_waiting()  # drain, so nothing is left half-open
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    return gzip.compress(bytes(size), compresslevel=1)


def resolver_returning(*addresses: str):
    """A stand-in for DNS that answers `addresses` for every name and records what it was asked."""

    async def resolve(host: str, port: int) -> list[str]:
        resolve.asked.append(host)
        return list(addresses)

    resolve.asked = []
    return resolve


async def refusal(url: str, policy=LOCAL, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await fetch(url, policy, **kwargs)
    return caught.value


@pytest.fixture
def server() -> Iterator[PageServer]:
    yield from running(PageServer())


@pytest.fixture
def canary() -> Iterator[Canary]:
    canary = Canary()
    yield canary
    canary.close()


def running(srv: PageServer) -> Iterator[PageServer]:
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


# --- what a good fetch returns ---------------------------------------------------------------


async def test_html_page_is_fetched_with_its_charset_and_final_url(server: PageServer) -> None:
    page = await fetch(server.url("/redirect/1"), LOCAL)
    assert (page.url, page.status, page.content_type, page.charset) == (
        server.url("/redirect/0"),
        200,
        "text/html",
        "iso-8859-1",
    )
    assert page.body.decode(page.charset) == "<html><head><title>Café</title></head><body>hello</body></html>"


async def test_request_names_pixelray_and_accepts_only_the_policy_types(server: PageServer) -> None:
    await fetch(server.url("/page"), LOCAL)
    headers = server.requests[0][1]
    assert headers["User-Agent"] == "pixelray/0.1 (+https://github.com/pixelray)"
    assert headers["Accept"] == "text/html, application/xhtml+xml"


async def test_allow_listed_name_is_resolved_once_and_sent_as_host_header(server: PageServer) -> None:
    resolver = resolver_returning("127.0.0.1")
    policy = dataclasses.replace(PAGE_POLICY, allow_list=("Allowed.Test",))
    page = await fetch(server.url("/page", host="ALLOWED.test"), policy, resolver=resolver)
    assert page.url == server.url("/page", host="ALLOWED.test")
    assert resolver.asked == ["allowed.test"]
    assert server.requests[0][1]["Host"] == f"allowed.test:{server.port}"


async def test_media_type_is_matched_without_parameters_or_case(server: PageServer) -> None:
    image = await fetch(server.url("/image"), dataclasses.replace(IMAGE_POLICY, allow_list=("127.0.0.1/32",)))
    assert (image.content_type, image.charset, image.body) == ("image/png", None, b"\x89PNG\r\n\x1a\n")


async def test_gzip_body_is_decoded(server: PageServer) -> None:
    assert (await fetch(server.url("/gzip"), LOCAL)).body == PAGE


# --- addresses that are never fetched --------------------------------------------------------

SSRF_CORPUS = [
    ("http://127.0.0.1:{canary}/", "blocked_address"),
    ("http://2130706433:{canary}/", "blocked_address"),
    ("http://0x7f000001:{canary}/", "blocked_address"),
    ("http://127.1:{canary}/", "blocked_address"),
    ("http://0177.0.0.1:{canary}/", "blocked_address"),
    ("http://0.0.0.0:{canary}/", "blocked_address"),
    ("http://[::1]:{canary}/", "blocked_address"),
    ("http://[::]:{canary}/", "blocked_address"),
    ("http://[::ffff:127.0.0.1]:{canary}/", "blocked_address"),
    ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
    ("http://localhost:{canary}/", "blocked_address"),
    ("http://LOCALHOST.:{canary}/", "blocked_address"),
    ("http://100.64.0.1/", "blocked_address"),
    ("http://[64:ff9b::7f00:1]/", "blocked_address"),
    ("http://[2002:7f00:1::]/", "blocked_address"),
    ("file:///etc/passwd", "scheme_not_allowed"),
    ("gopher://127.0.0.1:{canary}/", "scheme_not_allowed"),
    ("ftp://127.0.0.1:{canary}/", "scheme_not_allowed"),
]


@pytest.mark.parametrize("canary_port_allowed", [False, True], ids=["default-ports", "canary-port-allowed"])
@pytest.mark.parametrize(("url", "reason"), SSRF_CORPUS, ids=[url for url, _ in SSRF_CORPUS])
async def test_ssrf_corpus_is_refused_without_a_connection(
    canary: Canary, url: str, reason: str, canary_port_allowed: bool
) -> None:
    ports = PAGE_POLICY.allowed_ports | ({canary.port} if canary_port_allowed else set())
    error = await refusal(url.format(canary=canary.port), dataclasses.replace(PAGE_POLICY, allowed_ports=ports))
    assert error.reason == reason
    assert canary.connections == 0


async def test_refusal_names_the_address_and_what_can_be_fetched() -> None:
    error = await refusal("http://0x7f000001/", PAGE_POLICY)
    assert error.message == (
        "the URL resolves to a non-public address (127.0.0.1); only public web addresses can be fetched"
    )


@pytest.mark.parametrize("target", ["http://127.0.0.1:{canary}/", "http://169.254.169.254/"])
async def test_redirect_from_an_allow_listed_name_to_a_private_address_is_blocked(
    server: PageServer, canary: Canary, target: str
) -> None:
    policy = dataclasses.replace(PAGE_POLICY, allow_list=("allowed.test",))
    url = server.url("/to?" + target.format(canary=canary.port), host="allowed.test")
    error = await refusal(url, policy, resolver=resolver_returning("127.0.0.1"))
    assert error.reason == "blocked_address"
    assert len(server.requests) == 1 and canary.connections == 0


@pytest.mark.parametrize(
    "answers", [("93.184.216.34", "10.0.0.1"), ("2606:4700::1", "fd00::1"), ("::ffff:192.168.1.1",)]
)
async def test_dns_answer_with_any_private_address_is_blocked(answers: tuple[str, ...]) -> None:
    error = await refusal("http://example.test/", PAGE_POLICY, resolver=resolver_returning(*answers))
    assert error.reason == "blocked_address"


async def test_unresolvable_host_is_reported() -> None:
    async def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert (await refusal("http://nowhere.test/", PAGE_POLICY, resolver=no_such_host)).reason == "unresolvable"
    assert (await refusal("http://nowhere.test/", PAGE_POLICY, resolver=resolver_returning())).reason == "unresolvable"


@pytest.mark.parametrize("url", ["http://8.8.8.8:22/", "https://example.test:8443/"])
async def test_public_host_on_another_port_is_refused(url: str) -> None:
    error = await refusal(url, PAGE_POLICY, resolver=resolver_returning("93.184.216.34"))
    assert error.reason == "port_not_allowed" and "only ports 80 and 443" in error.message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:pass@example.test/", "invalid_url"),
        ("http://example.test/" + "a" * 2048, "invalid_url"),
        ("http:///path", "invalid_url"),
        ("http://exa mple.test/", "invalid_url"),
        ("http://example.test:99999/", "invalid_url"),
        ("example.test/page", "scheme_not_allowed"),
        ("data:text/html,hi", "scheme_not_allowed"),
    ],
)
async def test_malformed_or_non_web_url_is_refused(url: str, reason: str) -> None:
    assert (await refusal(url, PAGE_POLICY, resolver=resolver_returning("93.184.216.34"))).reason == reason


# --- redirects, size, type, status and time --------------------------------------------------


async def test_three_redirects_are_followed(server: PageServer) -> None:
    assert (await fetch(server.url("/redirect/3"), LOCAL)).url == server.url("/redirect/0")


async def test_four_redirects_are_too_many(server: PageServer) -> None:
    assert (await refusal(server.url("/redirect/4"))).reason == "too_many_redirects"
    assert len(server.requests) == 4


async def test_declared_length_over_the_cap_is_refused_before_the_body(server: PageServer) -> None:
    # The server holds the body back until teardown, so only the header can have refused it.
    error = await refusal(server.url("/declared-big"))
    assert (error.reason, error.message) == ("too_large", "the page is larger than 2 MiB; use a smaller page")


async def test_chunked_body_over_the_cap_stops_the_download_early(server: PageServer) -> None:
    started = time.monotonic()
    assert (await refusal(server.url("/chunked-big"))).reason == "too_large"
    assert time.monotonic() - started < 5
    assert server.stream_done.wait(5)
    assert server.sent < 25 * MiB  # what the socket buffers absorbed, not the 50 MiB on offer


async def test_gzip_bomb_is_refused_while_decoding(server: PageServer) -> None:
    assert (await refusal(server.url("/gzip-bomb"))).reason == "too_large"


@pytest.mark.parametrize("path", ["/image", "/untyped"])
async def test_response_of_another_type_is_refused(server: PageServer, path: str) -> None:
    assert (await refusal(server.url(path))).reason == "bad_content_type"


async def test_error_status_is_reported_with_the_status(server: PageServer) -> None:
    error = await refusal(server.url("/missing"))
    assert error.reason == "http_error" and "404" in error.message


async def test_server_that_never_answers_times_out(canary: Canary) -> None:
    policy = dataclasses.replace(LOCAL, read_timeout_s=0.5, total_timeout_s=1)
    started = time.monotonic()
    assert (await refusal(f"http://127.0.0.1:{canary.port}/", policy)).reason == "timeout"
    assert time.monotonic() - started < 1.5


async def test_slow_trickle_is_stopped_by_the_total_timeout(server: PageServer) -> None:
    policy = dataclasses.replace(LOCAL, read_timeout_s=0.5, total_timeout_s=1)
    started = time.monotonic()
    assert (await refusal(server.url("/trickle"), policy)).reason == "timeout"
    assert time.monotonic() - started < 1.5


async def test_refused_connection_is_connection_failed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    assert (await refusal(f"http://127.0.0.1:{port}/")).reason == "connection_failed"


async def test_proxy_environment_is_ignored(
    server: PageServer, canary: Canary, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{canary.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert (await fetch(server.url("/page"), LOCAL)).body == PAGE
    assert canary.connections == 0


# --- TLS: SNI and certificate checks use the host name, the connection uses the checked IP ------


def tls_contexts(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name` from a fresh CA, and a client trusting that CA."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, extensions) -> x509.Certificate:
        builder = x509.CertificateBuilder(
            subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]),
            issuer_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]),
            public_key=key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=now - datetime.timedelta(hours=1),
            not_valid_after=now + datetime.timedelta(hours=1),
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("test CA", ca_key, "test CA", ca_key, [x509.BasicConstraints(ca=True, path_length=None)])
    leaf = certificate(name, key, "test CA", ca_key, [x509.SubjectAlternativeName([x509.DNSName(name)])])
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    client_context = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server_context, client_context


def https_server(server_context: ssl.SSLContext) -> Iterator[PageServer]:
    srv = PageServer()
    server_context.sni_callback = lambda sock, name, context: srv.sni.append(name)
    srv.socket = server_context.wrap_socket(srv.socket, server_side=True)
    yield from running(srv)


@pytest.mark.parametrize(("certificate_name", "succeeds"), [("allowed.test", True), ("other.test", False)])
async def test_https_checks_the_certificate_against_the_host_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, certificate_name: str, succeeds: bool
) -> None:
    server_context, client_context = tls_contexts(tmp_path, certificate_name)
    monkeypatch.setattr(fetch_module, "_ssl_context", lambda: client_context)
    servers = https_server(server_context)
    srv = next(servers)
    try:
        policy = dataclasses.replace(PAGE_POLICY, allow_list=("allowed.test",))
        url = f"https://allowed.test:{srv.port}/page"
        if succeeds:
            assert (await fetch(url, policy, resolver=resolver_returning("127.0.0.1"))).body == PAGE
            assert srv.requests[0][1]["Host"] == f"allowed.test:{srv.port}"
        else:
            assert (await refusal(url, policy, resolver=resolver_returning("127.0.0.1"))).reason == "connection_failed"
        assert srv.sni == ["allowed.test"]
    finally:
        next(servers, None)


# --- the address table -----------------------------------------------------------------------

NON_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "198.18.0.1",
    "198.19.255.255",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "192.0.0.9",
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "::8.8.8.8",
    "2002:7f00:1::",
    "2002:a00:1::1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::808:808",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_address(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_address(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))
