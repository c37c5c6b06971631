"""What several step kinds share: the acting device, name resolution, file hashes, sub-second spacing.

One `Device` per step makes "the same host, user and IP appear wherever they should" a
property of the code: every table a step writes takes its names from the same object.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import shlex
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from synthetic.context import StepContext
from synthetic.entities import stable_seed

# First octets of large public allocations (cloud and CDN providers): resolved addresses look real.
_PUBLIC_FIRST_OCTETS = (13, 20, 23, 34, 35, 40, 52, 54, 104, 108, 142, 151, 157, 185, 199, 204)

DEFAULT_DNS_SERVER = {"name": "dc01.contoso.com", "ip": "10.0.0.10"}
DEFAULT_PROXY = {"name": "zscaler-nss-contoso", "ip": "10.0.0.20"}
_USER_AGENTS = {
    "windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0",
    "linux": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "macos": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
}
_BROWSER = {
    "windows": {
        "file_name": "msedge.exe",
        "folder_path": r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        "command_line": '"msedge.exe" --single-argument {url}',
    },
    "linux": {"file_name": "firefox", "folder_path": "/usr/lib/firefox/firefox", "command_line": "firefox {url}"},
    "macos": {
        "file_name": "Safari",
        "folder_path": "/Applications/Safari.app/Contents/MacOS/Safari",
        "command_line": "/Applications/Safari.app/Contents/MacOS/Safari",
    },
}


@dataclass(frozen=True)
class Device:
    """The machine and account a step acts from, as every table names them."""

    name: str
    id: str
    ip: str
    user: str
    upn: str
    os: str

    @property
    def domain(self) -> str:
        return self.upn.rsplit("@", 1)[-1] if "@" in self.upn else ""


def device(step: dict[str, Any], ctx: StepContext) -> Device:
    """The step's device from its fields or the case entities (host, device_id, ip, user, upn, os)."""
    name = str(ctx.param(step, "host"))
    fallback_id = hashlib.sha1(f"device:{name}".encode(), usedforsecurity=False).hexdigest()
    dev_id = str(ctx.param(step, "device_id", default="") or fallback_id)
    ip = str(ctx.param(step, "ip"))
    ipaddress.ip_address(ip)  # a typo in a template is an error, not a row with a bad address
    upn = str(ctx.param(step, "upn", default=""))
    user = str(ctx.param(step, "user", default="") or (upn.split("@", 1)[0] if upn else "root"))
    os_name = str(ctx.param(step, "os", default="linux"))
    if os_name not in _USER_AGENTS:
        raise ValueError(f"os must be one of {', '.join(sorted(_USER_AGENTS))}, not {os_name!r}")
    dev = Device(name, dev_id, ip, user, upn, os_name)
    for value in (dev.name, dev.id, dev.ip):
        ctx.identify(value)
    return dev


def resolve(domain: str) -> str:
    """A stable public IPv4 for a domain name: the DNS answer and the connection agree on it."""
    seed = stable_seed("resolve", domain.lower())
    first = _PUBLIC_FIRST_OCTETS[seed % len(_PUBLIC_FIRST_OCTETS)]
    return f"{first}.{(seed >> 8) % 256}.{(seed >> 16) % 256}.{1 + (seed >> 24) % 253}"


def ip_type(ip: str) -> str:
    """DeviceNetworkEvents' LocalIPType/RemoteIPType words for an address."""
    addr = ipaddress.ip_address(ip)
    if addr.is_loopback:
        return "Loopback"
    if isinstance(addr, ipaddress.IPv6Address) and addr.teredo:
        return "Teredo"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return "FourToSixMapping"
    if addr.is_private:
        return "Private"
    if addr.is_reserved or addr.is_multicast:
        return "Reserved"
    return "Public"


def file_hashes(path: str) -> dict[str, str]:
    """SHA256/SHA1/MD5 that are stable per file path (the same binary hashes the same everywhere)."""
    data = ("binary:" + path).encode()
    return {
        "SHA256": hashlib.sha256(data).hexdigest(),
        "SHA1": hashlib.sha1(data).hexdigest(),  # noqa: S324 - a realistic-looking value, not security
        "MD5": hashlib.md5(data).hexdigest(),  # noqa: S324
    }


def url_host(url: str) -> str:
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    return host.lower()


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def user_agent(os_name: str) -> str:
    return _USER_AGENTS[os_name]


def browser(os_name: str, url: str) -> dict[str, str]:
    spec = dict(_BROWSER[os_name])
    spec["command_line"] = spec["command_line"].format(url=url)
    return spec


def process_spec(spec: dict[str, Any] | None, ctx: StepContext, os_name: str, url: str = "") -> dict[str, str]:
    """An initiating/acting process: file name, folder path and command line, with defaults."""
    if not spec:
        return browser(os_name, url)
    spec = ctx.fill(dict(spec))
    command_line = str(spec.get("command_line", ""))
    argv0 = shlex.split(command_line)[0] if command_line else ""
    file_name = str(spec.get("file_name") or posixpath.basename(argv0) or "")
    if not file_name:
        raise ValueError("a process needs file_name or command_line")
    default_folder = (
        posixpath.join("/usr/bin", file_name) if os_name != "windows" else rf"C:\Windows\System32\{file_name}"
    )
    folder = str(spec.get("folder_path") or (argv0 if argv0.startswith("/") else default_folder))
    return {"file_name": file_name, "folder_path": folder, "command_line": command_line or file_name}


def jitter(ctx: StepContext, low_ms: int, high_ms: int) -> timedelta:
    return timedelta(milliseconds=ctx.fake.random_int(low_ms, high_ms))


def report_id(ctx: StepContext) -> int:
    """MDE's ReportId: a per-device event counter (long)."""
    return ctx.fake.random_int(1000, 10**7)
