"""The one way user-supplied URLs are fetched: public addresses only, bounded in size and time.

Every hop is parsed, resolved once, checked, and then connected to by the checked IP address, so a
DNS answer that changes between the check and the connection (rebinding) cannot reach anything else.
"""

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from deployments.protocol import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

USER_AGENT = "pixelray/0.1 (+https://github.com/pixelray)"
MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may download. `allow_list` names hosts (exact, case-insensitive) or CIDR
    networks that may be fetched although they are not public, on any port; empty in production."""

    max_bytes: int
    content_types: tuple[str, ...]
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_redirects: int = 3
    allowed_ports: frozenset[int] = frozenset({80, 443})
    allow_list: tuple[str, ...] = ()


PAGE_POLICY = FetchPolicy(max_bytes=2 * 1024 * 1024, content_types=("text/html", "application/xhtml+xml"))
IMAGE_POLICY = FetchPolicy(max_bytes=10 * 1024 * 1024, content_types=("image/png", "image/jpeg", "image/webp"))
# A webhook receiver's answer is read only for its status; its body is capped and dropped.
WEBHOOK_POLICY = FetchPolicy(max_bytes=64 * 1024, content_types=(), max_redirects=0, total_timeout_s=15.0)


@dataclass(frozen=True)
class FetchedResource:
    url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes


# Explicit on top of `is_global`, whose tables differ between Python patch releases (3.11.7 calls
# multicast, 64:ff9b:1::/48 and 3fff::/20 global).
_NON_PUBLIC_V4 = tuple(
    map(
        ipaddress.IPv4Network,
        (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        ),
    )
)
_NON_PUBLIC_V6 = tuple(
    map(
        ipaddress.IPv6Network,
        (
            # ::/96 covers ::, ::1 and the deprecated IPv4-compatible form; local-use NAT64 (64:ff9b:1::/48)
            # only ever points inside the operator's network.
            "::/96",
            "64:ff9b:1::/48",
            "100::/64",
            "2001:db8::/32",
            "3fff::/20",
            "5f00::/16",
            "fc00::/7",
            "fe80::/10",
            "fec0::/10",
            "ff00::/8",
        ),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """True when `address` is globally reachable. IPv6 forms that carry an IPv4 address
    (mapped, 6to4, NAT64, Teredo) are judged by the IPv4 addresses inside them."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_global and not any(address in network for network in _NON_PUBLIC_V4)
    if any(address in network for network in _NON_PUBLIC_V6):
        return False
    embedded = _embedded_ipv4(address)
    if embedded:
        return all(is_public_address(inner) for inner in embedded)
    return address.is_global


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    if address.ipv4_mapped:
        return (address.ipv4_mapped,)
    if address.sixtofour:
        return (address.sixtofour,)
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return address.teredo or ()


@dataclass(frozen=True)
class _Target:
    """One checked hop: where to connect (`address`) and who we say we talk to (`host`)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress
    path: str

    def request(
        self,
        client: httpx.AsyncClient,
        *,
        method: str = "GET",
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        ip = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != DEFAULT_PORTS[self.scheme]:
            host = f"{host}:{self.port}"
        return client.build_request(
            method,
            f"{self.scheme}://{ip}:{self.port}{self.path}",
            headers={**(headers or {}), "Host": host},
            content=content,
            # TLS SNI and certificate checks must use the name the user asked for, not the IP.
            extensions={"sni_hostname": self.host},
        )


async def fetch(url: str, policy: FetchPolicy, *, resolver: Resolver | None = None) -> FetchedResource:
    """Download `url` under `policy`, following redirects by hand and checking every hop.
    Raises FetchError whose `reason` is a stable code and whose message says what to fix."""
    resolver = resolver or _resolve
    timeout = httpx.Timeout(policy.read_timeout_s, connect=policy.connect_timeout_s)
    headers = {"User-Agent": USER_AGENT, "Accept": ", ".join(policy.content_types), "Accept-Encoding": "gzip"}
    try:
        async with (
            asyncio.timeout(policy.total_timeout_s),
            httpx.AsyncClient(
                # No keep-alive: a pooled connection is keyed by IP, so it could carry another
                # host's TLS session. trust_env=False: a proxy would do its own, unchecked resolving.
                trust_env=False,
                follow_redirects=False,
                verify=_ssl_context(),
                timeout=timeout,
                headers=headers,
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as client,
        ):
            for _ in range(policy.max_redirects + 1):
                target = await _check(url, policy, resolver)
                response = await client.send(target.request(client), stream=True)
                try:
                    location = response.headers.get("location")
                    if response.status_code not in REDIRECT_STATUSES or not location:
                        return await _read(response, target, policy)
                finally:
                    await response.aclose()
                url = urljoin(url, location.strip())
    except (TimeoutError, httpx.TimeoutException):
        raise FetchError(
            "timeout",
            f"the server did not answer within {policy.read_timeout_s:g} s "
            f"(or {policy.total_timeout_s:g} s in all); try again later or use another URL",
        ) from None
    except httpx.TransportError as exc:
        raise FetchError(
            "connection_failed",
            f"could not download {url} ({str(exc) or type(exc).__name__}); "
            "check that the address is correct and reachable",
        ) from None
    raise FetchError(
        "too_many_redirects",
        f"the URL redirects more than {policy.max_redirects} times; use the address it finally leads to",
    )


async def post(
    url: str, body: bytes, headers: dict[str, str], policy: FetchPolicy, *, resolver: Resolver | None = None
) -> int:
    """POSTs `body` to `url` after the same checks as `fetch` and returns the answer's status.
    Redirects are not followed (a 3xx is returned as is): a receiver that moved must be
    registered again, and a redirect must not carry a signed body somewhere unchecked."""
    target = await _check(url, policy, resolver or _resolve)
    timeout = httpx.Timeout(policy.read_timeout_s, connect=policy.connect_timeout_s)
    try:
        async with (
            asyncio.timeout(policy.total_timeout_s),
            httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                verify=_ssl_context(),
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as client,
        ):
            request = target.request(client, method="POST", content=body, headers=headers)
            response = await client.send(request, stream=True)
            try:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > policy.max_bytes:
                        break
            finally:
                await response.aclose()
            return response.status_code
    except (TimeoutError, httpx.TimeoutException):
        raise FetchError("timeout", f"the receiver did not answer within {policy.read_timeout_s:g} s") from None
    except httpx.TransportError as exc:
        raise FetchError(
            "connection_failed", f"could not connect to {url} ({str(exc) or type(exc).__name__})"
        ) from None


async def check_url(url: str, policy: FetchPolicy, *, resolver: Resolver | None = None) -> None:
    """Raises the FetchError that `fetch` would raise before sending anything (scheme, port,
    address), so a URL that can never be fetched is refused while the client still waits."""
    await _check(url, policy, resolver or _resolve)


async def _check(url: str, policy: FetchPolicy, resolver: Resolver) -> _Target:
    if len(url) > MAX_URL_LENGTH:
        raise FetchError("invalid_url", f"the URL is longer than {MAX_URL_LENGTH} characters; use a shorter one")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("invalid_url", f"the URL is malformed ({exc}); check it") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        shown = f"{scheme}:" if scheme else "missing"
        raise FetchError(
            "scheme_not_allowed", f"the URL scheme is {shown}; only http:// and https:// URLs can be fetched"
        )
    if parts.username is not None or parts.password is not None:
        raise FetchError("invalid_url", "the URL contains a user name or password; remove the part before '@'")
    port = port or DEFAULT_PORTS[scheme]
    host, literal = _parse_host(parts.hostname or "")
    names, networks = _allow_list(policy.allow_list)
    addresses = [literal] if literal else await _resolve_checked(resolver, host, port)
    allowed = host in names or all(any(a in n for n in networks) for a in addresses)
    for address in addresses:
        if not allowed and not is_public_address(address):
            raise FetchError(
                "blocked_address",
                f"the URL resolves to a non-public address ({address}); only public web addresses can be fetched",
            )
    if port not in policy.allowed_ports and not allowed:
        ports = " and ".join(map(str, sorted(policy.allowed_ports)))
        raise FetchError("port_not_allowed", f"port {port} is not allowed; only ports {ports} can be fetched")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0], path=path)


def _parse_host(host: str) -> tuple[str, IPAddress | None]:
    """The canonical host name, and its address when the host is an IP literal in any notation."""
    if ":" in host:
        try:
            return host, ipaddress.IPv6Address(host)
        except ValueError:
            raise FetchError("invalid_url", f"{host!r} is not a valid IPv6 address; check the URL") from None
    try:
        host = host.encode("idna").decode("ascii").rstrip(".")
    except UnicodeError:
        host = ""
    if not HOST_NAME.fullmatch(host):
        raise FetchError("invalid_url", "the URL has no valid host name; check the address")
    try:
        # inet_aton reads the legacy forms (2130706433, 0x7f000001, 127.1, 0177.0.0.1) that
        # getaddrinfo would also accept; naming them here means we connect to what we checked.
        return host, ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return host, None


@functools.cache
def _allow_list(
    entries: tuple[str, ...],
) -> tuple[frozenset[str], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    names, networks = set(), []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return frozenset(names), tuple(networks)


async def _resolve_checked(resolver: Resolver, host: str, port: int) -> list[IPAddress]:
    try:
        addresses = [ipaddress.ip_address(answer) for answer in dict.fromkeys(await resolver(host, port))]
    except (OSError, ValueError):
        addresses = []
    if not addresses:
        raise FetchError("unresolvable", f"the host name {host!r} could not be resolved; check the address")
    return addresses


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv4 or IPv6 sockaddr (SOCK_STREAM asked for) starts with the address as text.
    return [str(info[4][0]) for info in infos]


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs more than a small fetch.
    return httpx.create_ssl_context(trust_env=False)


async def _read(response: httpx.Response, target: _Target, policy: FetchPolicy) -> FetchedResource:
    noun = "image" if all(t.startswith("image/") for t in policy.content_types) else "page"
    if not 200 <= response.status_code < 300:
        raise FetchError(
            "http_error",
            f"the server answered HTTP {response.status_code} for {target.url}; "
            "check that the URL is correct and publicly reachable",
        )
    media_type, charset = _parse_content_type(response.headers.get("content-type", ""))
    if media_type not in {t.lower() for t in policy.content_types}:
        raise FetchError(
            "bad_content_type",
            f"the URL returned content type {media_type or '(none)'}, not "
            f"a {noun} ({', '.join(policy.content_types)}); link to the {noun} itself",
        )
    too_large = FetchError("too_large", f"the {noun} is larger than {_size(policy.max_bytes)}; use a smaller {noun}")
    if int(response.headers.get("content-length") or 0) > policy.max_bytes:
        raise too_large
    decode = _decoder(response.headers.get("content-encoding", "identity").strip().lower())
    body = bytearray()
    async for chunk in response.aiter_raw():
        # Decoding is capped at one byte over the budget, so a compression bomb stops early too.
        body += decode(chunk, policy.max_bytes - len(body) + 1)
        if len(body) > policy.max_bytes:
            raise too_large
    return FetchedResource(
        url=target.url, status=response.status_code, content_type=media_type, charset=charset, body=bytes(body)
    )


def _decoder(encoding: str) -> Callable[[bytes, int], bytes]:
    if encoding in ("", "identity"):
        return lambda chunk, limit: chunk
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # | 32: accept gzip and zlib headers

        def inflate(chunk: bytes, limit: int) -> bytes:
            try:
                return inflater.decompress(chunk, limit)
            except zlib.error:
                raise FetchError("bad_content_type", f"the server sent a corrupt {encoding} body") from None

        return inflate
    raise FetchError("bad_content_type", f"the server sent an unsupported content encoding ({encoding})")


def _parse_content_type(header: str) -> tuple[str, str | None]:
    media_type, *params = header.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return media_type.strip().lower(), charset


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
