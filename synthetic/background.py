"""Benign background traffic at volume, for every table the cases write, built column-wise.

One Faker call per row would take minutes for a million rows. Instead Faker fills small pools
(users, devices, senders, URLs, command lines) once; numpy draws indices into them, and pooled
columns become Arrow dictionary arrays (no per-row strings at all). Per-row values (times, ids,
ports, GUIDs) are numpy arrays turned into Arrow buffers without copying. Everything is drawn
from generators seeded by (seed, table), so a seed gives the same tables on every machine.

The mix follows the seed's false-positive list: mostly popular and corporate hosts, with a
small share of legitimate URL-shortener, PaaS-preview and IPFS-gateway use, so detections meet
the benign look-alikes they must tolerate. Background names never collide with case
identifiers: devices are `ws-NNNN`/`lnx-*` in 10.0.0.0/8, cases use `purple-*` in 172.16.0.0/12.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.workspace.tables import SchemaRegistry, TableSchema
from synthetic.arrow import constant_strings
from synthetic.entities import ORG_DOMAIN, TENANT_ID, make_faker, stable_seed
from synthetic.steps.common import DEFAULT_DNS_SERVER, DEFAULT_PROXY, file_hashes, resolve

BACKGROUND_TABLES = (
    "DeviceNetworkEvents",
    "CommonSecurityLog",
    "DnsEvents",
    "ASimDnsActivityLogs",
    "DeviceProcessEvents",
    "Syslog",
    "EmailEvents",
    "EmailUrlInfo",
    "UrlClickEvents",
    "AzureActivity",
)
# Share of the requested rows per table: endpoint network and DNS-server events dominate a workspace;
# the wide tables (CommonSecurityLog 164 columns, ASimDnsActivityLogs 139) get less, as most
# workspaces keep either the proxy's CEF feed or the ASIM DNS copy at lower volume.
SHARES = {
    "DeviceNetworkEvents": 0.25,
    "CommonSecurityLog": 0.10,
    "DnsEvents": 0.15,
    "ASimDnsActivityLogs": 0.05,
    "DeviceProcessEvents": 0.10,
    "Syslog": 0.12,
    "EmailEvents": 0.07,
    "EmailUrlInfo": 0.10,
    "UrlClickEvents": 0.03,
    "AzureActivity": 0.03,
}

# (host, category, weight). Shorteners ~2.5 %, PaaS previews ~2 %, IPFS ~0.4 % of web traffic:
# the seed's false-positive list (newsletters, dev previews, SSO redirects, Web3 links).
BENIGN_HOSTS: list[tuple[str, str, float]] = [
    ("www.google.com", "popular", 9),
    ("www.microsoft.com", "popular", 7),
    ("login.microsoftonline.com", "popular", 8),
    ("outlook.office365.com", "popular", 8),
    ("teams.microsoft.com", "popular", 6),
    ("www.linkedin.com", "popular", 3),
    ("github.com", "popular", 3),
    ("api.github.com", "popular", 2),
    ("www.youtube.com", "popular", 3),
    ("www.bing.com", "popular", 2),
    ("update.googleapis.com", "popular", 2),
    ("fonts.gstatic.com", "popular", 2),
    ("cdn.jsdelivr.net", "popular", 1),
    ("en.wikipedia.org", "popular", 1),
    ("slack.com", "popular", 1),
    ("zoom.us", "popular", 2),
    ("www.salesforce.com", "popular", 1),
    ("s3.amazonaws.com", "popular", 1),
    ("docs.google.com", "popular", 2),
    ("www.bbc.co.uk", "popular", 1),
    ("stackoverflow.com", "popular", 1),
    ("news.ycombinator.com", "popular", 0.5),
    ("support.apple.com", "popular", 0.5),
    ("contoso.sharepoint.com", "corporate", 8),
    ("contoso-my.sharepoint.com", "corporate", 3),
    ("intranet.contoso.com", "corporate", 3),
    ("hr.contoso.com", "corporate", 1),
    ("www.contoso.com", "corporate", 2),
    ("www.fabrikam.com", "corporate", 1),
    ("portal.northwindtraders.com", "corporate", 0.5),
    ("aka.ms", "shortener", 1),
    ("bit.ly", "shortener", 1),
    ("ow.ly", "shortener", 0.4),
    ("tinyurl.com", "shortener", 0.3),
    ("buff.ly", "shortener", 0.2),
    ("contoso-wiki.azurewebsites.net", "paas", 0.6),
    ("status-preview.netlify.app", "paas", 0.3),
    ("docs-preview.vercel.app", "paas", 0.3),
    ("northwind-sso.web.app", "paas", 0.3),
    ("contoso-metrics.appspot.com", "paas", 0.2),
    ("contoso-docs.pages.dev", "paas", 0.2),
    ("ipfs.io", "ipfs", 0.2),
    ("dweb.link", "ipfs", 0.1),
    ("cloudflare-ipfs.com", "ipfs", 0.1),
]
PATHS = [
    "/",
    "/news",
    "/blog/2025/product-update",
    "/en-us/security",
    "/events",
    "/careers",
    "/s/promo",
    "/docs/getting-started",
    "/account/settings",
    "/invoice/view",
    "/meeting/join",
    "/unsubscribe",
    "/sites/finance/Shared%20Documents/Forms/AllItems.aspx",
    "/search?q=quarterly+report",
    "/api/v1/status",
    "/static/js/main.js",
    "/static/css/site.css",
    "/favicon.ico",
    "/release-notes",
    "/pricing",
]
# (file name, folder path, command line, weight)
_WIN_PROCS: list[tuple[str, str, str, float]] = [
    ("msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", '"msedge.exe" --type=utility', 8),
    ("chrome.exe", r"C:\Program Files\Google\Chrome\Application\chrome.exe", '"chrome.exe" --type=renderer', 5),
    ("ms-teams.exe", r"C:\Program Files\WindowsApps\MSTeams\ms-teams.exe", '"ms-teams.exe"', 4),
    ("OneDrive.exe", r"C:\Program Files\Microsoft OneDrive\OneDrive.exe", '"OneDrive.exe" /background', 3),
    ("svchost.exe", r"C:\Windows\System32\svchost.exe", "svchost.exe -k netsvcs -p -s wuauserv", 3),
    ("OUTLOOK.EXE", r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE", '"OUTLOOK.EXE"', 3),
    (
        "powershell.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell.exe -NoProfile -Command Get-Service",
        1,
    ),
    ("git.exe", r"C:\Program Files\Git\cmd\git.exe", "git fetch origin", 1),
]
_LINUX_CMDS: list[tuple[str, str, str, float]] = [
    ("curl", "/usr/bin/curl", "curl -s https://api.github.com/repos/contoso/tools/releases/latest", 2),
    (
        "wget",
        "/usr/bin/wget",
        "wget -q https://packages.microsoft.com/config/ubuntu/22.04/packages-microsoft-prod.deb",
        1,
    ),
    ("apt-get", "/usr/bin/apt-get", "apt-get update", 2),
    ("python3", "/usr/bin/python3", "python3 /opt/contoso/bin/sync_metrics.py", 3),
    ("git", "/usr/bin/git", "git pull --ff-only", 2),
    ("systemctl", "/usr/bin/systemctl", "systemctl status nginx", 1),
    ("ls", "/usr/bin/ls", "ls -la /var/log", 3),
    ("grep", "/usr/bin/grep", "grep -i error /var/log/syslog", 2),
    ("tar", "/usr/bin/tar", "tar -czf /backup/www.tgz /var/www", 1),
    ("docker", "/usr/bin/docker", "docker ps", 1),
]
# (operation, display name, resource type, weight); Microsoft.Web/sites/write: dev teams' own apps.
_ARM_OPS: list[tuple[str, str, str, float]] = [
    (
        "Microsoft.Compute/virtualMachines/write",
        "Create or Update Virtual Machine",
        "Microsoft.Compute/virtualMachines",
        4,
    ),
    ("Microsoft.Compute/virtualMachines/start/action", "Start Virtual Machine", "Microsoft.Compute/virtualMachines", 3),
    (
        "Microsoft.Storage/storageAccounts/listKeys/action",
        "List Storage Account Keys",
        "Microsoft.Storage/storageAccounts",
        3,
    ),
    ("Microsoft.Resources/deployments/write", "Create Deployment", "Microsoft.Resources/deployments", 3),
    (
        "Microsoft.Network/networkSecurityGroups/write",
        "Create or Update Network Security Group",
        "Microsoft.Network/networkSecurityGroups",
        2,
    ),
    ("Microsoft.KeyVault/vaults/write", "Update Key Vault", "Microsoft.KeyVault/vaults", 1),
    (
        "Microsoft.Insights/diagnosticSettings/write",
        "Create or update resource diagnostic setting",
        "Microsoft.Insights/diagnosticSettings",
        1,
    ),
    ("Microsoft.Web/sites/write", "Create or Update Web App", "Microsoft.Web/sites", 1),
    ("Microsoft.Web/sites/restart/Action", "Restart Web App", "Microsoft.Web/sites", 1),
]
_SUBJECTS_EXTRA = ["Weekly status", "Invoice attached", "Meeting notes", "Your order has shipped", "Team offsite"]


# -- Arrow building blocks ------------------------------------------------------------------
def _pooled(pool: Sequence[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    """Pool values by index, as a dictionary array (the pool is stored once)."""
    values = pool if isinstance(pool, pa.Array) else pa.array(list(pool), type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(idx).astype(np.int32)), values)


def _fixed_strings(mat: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix of ASCII -> a string array, zero-copy."""
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat)))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex(rng: np.random.Generator, n: int, nbytes: int, upper: bool = False) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    table = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8) if upper else _HEX
    out = np.empty((n, nbytes * 2), dtype=np.uint8)
    out[:, 0::2] = table[raw >> 4]
    out[:, 1::2] = table[raw & 0x0F]
    return out


def guids(rng: np.random.Generator, n: int) -> pa.Array:
    """n random version-4 GUID strings (8-4-4-4-12 lower-case hex)."""
    h = _hex(rng, n, 16)
    h[:, 12] = ord("4")
    h[:, 16] = _HEX[8 + (h[:, 16] % 4)]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = h[:, 0:8], h[:, 8:12], h[:, 12:16]
    out[:, 19:23], out[:, 24:36] = h[:, 16:20], h[:, 20:32]
    return _fixed_strings(out)


def _times(rng: np.random.Generator, now: datetime, window: timedelta, n: int) -> np.ndarray:
    """n sorted microsecond timestamps in (now - window, now]."""
    end = np.datetime64(now.replace(tzinfo=None), "us").astype(np.int64)
    offsets = rng.integers(1, int(window.total_seconds() * 1e6), n)
    return np.sort(end - offsets)


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64).astype("datetime64[us]"))


def _weights(items: Sequence[tuple]) -> np.ndarray:
    w = np.array([float(i[-1]) for i in items])
    return w / w.sum()


def _table(schema: TableSchema, columns: dict[str, object]) -> pa.Table:
    """Columns in schema order, typed as the schema says (dictionary strings stay dictionary)."""
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"{schema.name} has no column(s) {', '.join(sorted(unknown))}")
    arrow = schema.arrow_schema()
    names, arrays = [], []
    for name in schema.names:
        if name not in columns:
            continue
        value = columns[name]
        want = arrow.field(name).type
        arr = value if isinstance(value, (pa.Array, pa.ChunkedArray)) else pa.array(value)
        if not pa.types.is_dictionary(arr.type) and arr.type != want:
            arr = arr.cast(want)
        names.append(name)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=names)


# -- pools -----------------------------------------------------------------------------------
def _resolve6(domain: str) -> str:
    s = stable_seed("resolve6", domain)
    return f"2606:4700:{s & 0xFFFF:x}:{(s >> 16) & 0xFFFF:x}::{(s >> 32) & 0xFFFF:x}"


class _Pools:
    """The Faker-made values every table draws from (devices, users, senders, URLs)."""

    def __init__(self, seed: int) -> None:
        fake = make_faker(seed, "background-pools")
        self.users = [fake.org_user() for _ in range(300)]
        self.win_devices = [f"ws-{i:04d}.{ORG_DOMAIN}" for i in range(1, 241)]
        self.linux_devices = [f"lnx-{role}-{i:02d}" for role in ("build", "web", "db") for i in range(1, 11)]
        self.devices = self.win_devices + self.linux_devices
        self.device_ips = [f"10.{1 + i // 250}.{(i * 7) % 250 + 1}.{i % 250 + 2}" for i in range(len(self.devices))]
        self.device_ids = [hashlib.sha1(f"bg-device:{seed}:{d}".encode(), usedforsecurity=False).hexdigest()
                           for d in self.devices]
        # workstation i belongs to user i; Linux servers run under service accounts
        self.device_user = [self.users[i % len(self.users)] for i in range(len(self.win_devices))] + [
            f"svc-{d.split('-')[1]}@{ORG_DOMAIN}" for d in self.linux_devices
        ]
        self.device_account = [u.split("@")[0] for u in self.device_user]
        self.device_domain = ["contoso"] * len(self.win_devices) + self.linux_devices
        self.senders = [fake.company_email() for _ in range(400)]
        self.sender_names = [fake.name() for _ in range(400)]
        self.subjects = [fake.catch_phrase() for _ in range(500)] + _SUBJECTS_EXTRA
        self.public_ips = [fake.ipv4_public() for _ in range(200)]
        self.user_agents = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 "
            "Safari/537.36 Edg/125.0.0.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
            "Safari/537.36",
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)",
            "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        ]
        self.hosts = [h for h, _, _ in BENIGN_HOSTS]
        self.host_v4 = [resolve(h) for h in self.hosts]
        self.host_v6 = [_resolve6(h) for h in self.hosts]
        urls: list[str] = []
        url_host: list[int] = []
        for hi, (host, category, _) in enumerate(BENIGN_HOSTS):
            if category == "shortener":
                paths = ["/" + fake.bothify("???####") for _ in range(20)]
            elif category == "ipfs":
                b32 = "abcdefghijklmnopqrstuvwxyz234567"
                paths = [f"/ipfs/bafybei{fake.lexify('?' * 52, letters=b32)}/metadata.json" for _ in range(10)]
            else:
                paths = PATHS
            for path in paths:
                urls.append(f"https://{host}{path}")
                url_host.append(hi)
        self.urls = urls
        self.url_host = np.array(url_host)
        host_p = _weights(BENIGN_HOSTS)
        per_url = host_p[self.url_host] / np.bincount(self.url_host)[self.url_host]
        self.url_p = per_url / per_url.sum()  # a host's share is split over its URLs
        self.subscriptions = [fake.guid() for _ in range(3)]
        self.groups = ["rg-prod-web", "rg-dev-apps", "rg-shared-network", "rg-data-platform", "rg-identity"]
        self.auth = [
            json.dumps({"SPF": "pass", "DKIM": "pass", "DMARC": "pass", "CompAuth": "pass"}),
            json.dumps({"SPF": "softfail", "DKIM": "none", "DMARC": "bestguesspass", "CompAuth": "pass"}),
            json.dumps({"SPF": "fail", "DKIM": "fail", "DMARC": "fail", "CompAuth": "fail"}),
        ]
        self.admins = self.users[:12]
        self.procs = _WIN_PROCS + _LINUX_CMDS  # Windows processes first, then Linux commands
        hashes = [file_hashes(p[1]) for p in self.procs]
        self.proc_hash = {k: [h[k] for h in hashes] for k in ("SHA256", "SHA1", "MD5")}


def _counts(rows: int, tables: Sequence[str]) -> dict[str, int]:
    shares = {t: SHARES[t] for t in tables}
    total = sum(shares.values())
    counts = {t: int(rows * s / total) for t, s in shares.items()}
    first = next(iter(counts))
    counts[first] += rows - sum(counts.values())  # exactly `rows` in all
    return counts


# -- the generator ------------------------------------------------------------------------------
def background_tables(
    seed: int,
    now: datetime,
    rows: int,
    window: timedelta = timedelta(hours=48),
    tables: Sequence[str] = BACKGROUND_TABLES,
    registry: SchemaRegistry | None = None,
) -> dict[str, pa.Table]:
    """`rows` benign rows in all, spread over `tables` in SHARES proportions, within `window` before `now`."""
    if rows <= 0:
        return {}
    unknown = [t for t in tables if t not in SHARES]
    if unknown:
        raise ValueError(f"no background generator for {', '.join(unknown)} (have: {', '.join(BACKGROUND_TABLES)})")
    counts = _counts(rows, tables)
    gen = _Generator(seed, now, window, _Pools(seed), registry or SchemaRegistry())
    web = ("DeviceNetworkEvents", "CommonSecurityLog", "DnsEvents", "ASimDnsActivityLogs")
    gen.sessions(max([counts.get(t, 0) for t in web] + [1]))  # one session set, whatever the table order
    out: dict[str, pa.Table] = {}
    email_tables = ("EmailEvents", "EmailUrlInfo", "UrlClickEvents")
    if any(t in counts for t in email_tables):
        out.update(gen.email(*(counts.get(t, 0) for t in email_tables)))
    for table in tables:
        if table not in email_tables:
            out[table] = getattr(gen, table)(counts[table])
    return {t: out[t] for t in tables if out[t].num_rows}


def background_email(
    seed: int, now: datetime, messages: int, window: timedelta = timedelta(hours=48)
) -> dict[str, pa.Table]:
    """`messages` benign mails (EmailEvents) with about two URLs each (EmailUrlInfo); the 0.1 entry point."""
    if messages <= 0:
        return {}
    tables = _Generator(seed, now, window, _Pools(seed), SchemaRegistry()).email(messages, messages * 2, 0)
    return {"EmailEvents": tables["EmailEvents"], "EmailUrlInfo": tables["EmailUrlInfo"]}


class _Generator:
    def __init__(self, seed: int, now: datetime, window: timedelta, pools: _Pools, registry: SchemaRegistry) -> None:
        self.seed, self.now, self.window, self.p, self.registry = (
            seed,
            now.replace(tzinfo=None),
            window,
            pools,
            registry,
        )
        self._sessions: dict[str, np.ndarray] | None = None

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng(stable_seed(self.seed, "background", name))

    def sessions(self, n: int) -> dict[str, np.ndarray]:
        """Web sessions (device, URL, time) shared by DNS, endpoint and proxy tables, so the lookup
        precedes the connection it resolves and the proxy request follows, for the same device."""
        if self._sessions is None or len(self._sessions["time"]) < n:
            rng = self.rng("sessions")
            m = max(n, 1)
            url = rng.choice(len(self.p.urls), m, p=self.p.url_p)
            self._sessions = {
                "time": _times(rng, self.now - timedelta(seconds=1), self.window, m),
                "device": rng.integers(0, len(self.p.devices), m),
                "url": url,
                "host": self.p.url_host[url],
                "v6": rng.random(m) < 0.12,
                "nx": rng.random(m) < 0.015,
            }
        return {k: v[:n] for k, v in self._sessions.items()}

    def _answers(self, s: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
        nh = len(self.p.hosts)
        idx = np.where(s["nx"], 2 * nh, s["host"] + np.where(s["v6"], nh, 0))
        return self.p.host_v4 + self.p.host_v6 + [""], idx

    def DnsEvents(self, n: int) -> pa.Table:  # noqa: N802 - named after the table
        s, rng = self.sessions(n), self.rng("DnsEvents")
        pool, answer = self._answers(s)
        nx = s["nx"].astype(np.int8)
        return _table(
            self.registry["DnsEvents"],
            {
                "TimeGenerated": _ts(s["time"]),
                "Type": constant_strings("DnsEvents", n),
                "SourceSystem": constant_strings("OpsManager", n),
                "Computer": _pooled([DEFAULT_DNS_SERVER["name"], "dc02.contoso.com"], rng.integers(0, 2, n)),
                "EventId": np.where(s["nx"], 258, 257).astype(np.int32),
                "SubType": constant_strings("LookupQuery", n),
                "ClientIP": _pooled(self.p.device_ips, s["device"]),
                "Name": _pooled(self.p.hosts, s["host"]),
                "QueryType": _pooled(["A", "AAAA"], s["v6"].astype(np.int8)),
                "IPAddresses": _pooled(pool, answer),
                "Result": _pooled(["Success", "Failure"], nx),
                "ResultCode": np.where(s["nx"], 3, 0).astype(np.int32),
                "Severity": np.zeros(n, dtype=np.int32),
            },
        )

    def ASimDnsActivityLogs(self, n: int) -> pa.Table:  # noqa: N802
        s, rng = self.sessions(n), self.rng("ASimDnsActivityLogs")
        pool, answer = self._answers(s)
        t = _ts(s["time"])
        nx = s["nx"].astype(np.int8)
        dev = s["device"]
        return _table(
            self.registry["ASimDnsActivityLogs"],
            {
                "TenantId": constant_strings(TENANT_ID, n),
                "TimeGenerated": t,
                "EventStartTime": t,
                "EventEndTime": t,
                "Type": constant_strings("ASimDnsActivityLogs", n),
                "EventCount": np.ones(n, dtype=np.int32),
                "EventType": constant_strings("Query", n),
                "EventSubType": constant_strings("response", n),
                "EventResult": _pooled(["Success", "Failure"], nx),
                "EventResultDetails": _pooled(["NOERROR", "NXDOMAIN"], nx),
                "EventOriginalType": _pooled(["257", "258"], nx),
                "EventProduct": constant_strings("DNS Server", n),
                "EventVendor": constant_strings("Microsoft", n),
                "EventSchemaVersion": constant_strings("0.1.7", n),
                "EventSeverity": constant_strings("Informational", n),
                "Dvc": constant_strings(DEFAULT_DNS_SERVER["name"], n),
                "DvcHostname": constant_strings(DEFAULT_DNS_SERVER["name"].split(".")[0], n),
                "DvcIpAddr": constant_strings(DEFAULT_DNS_SERVER["ip"], n),
                "Src": _pooled(self.p.device_ips, dev),
                "SrcIpAddr": _pooled(self.p.device_ips, dev),
                "SrcHostname": _pooled(self.p.devices, dev),
                "SrcDvcId": _pooled(self.p.device_ids, dev),
                "SrcDvcIdType": constant_strings("MDEid", n),
                "SrcPortNumber": rng.integers(49152, 65536, n).astype(np.int32),
                "Dst": constant_strings(DEFAULT_DNS_SERVER["ip"], n),
                "DstIpAddr": constant_strings(DEFAULT_DNS_SERVER["ip"], n),
                "DstPortNumber": np.full(n, 53, dtype=np.int32),
                "DnsQuery": _pooled(self.p.hosts, s["host"]),
                "DnsQueryType": np.where(s["v6"], 28, 1).astype(np.int32),
                "DnsQueryTypeName": _pooled(["A", "AAAA"], s["v6"].astype(np.int8)),
                "DnsQueryClass": np.ones(n, dtype=np.int32),
                "DnsQueryClassName": constant_strings("IN", n),
                "DnsResponseCode": np.where(s["nx"], 3, 0).astype(np.int32),
                "DnsResponseName": _pooled(pool, answer),
                "TransactionIdHex": _fixed_strings(_hex(rng, n, 2, upper=True)),
                "NetworkProtocol": constant_strings("UDP", n),
                "DnsFlagsRecursionDesired": np.ones(n, dtype=bool),
                "DnsFlagsRecursionAvailable": np.ones(n, dtype=bool),
                "DnsFlags": constant_strings("RD RA", n),
            },
        )

    def _proc_columns(self, prefix: str, proc: np.ndarray) -> dict[str, pa.Array]:
        p = self.p
        return {
            f"{prefix}FileName": _pooled([a[0] for a in p.procs], proc),
            f"{prefix}FolderPath": _pooled([a[1] for a in p.procs], proc),
            f"{prefix}SHA256": _pooled(p.proc_hash["SHA256"], proc),
            f"{prefix}SHA1": _pooled(p.proc_hash["SHA1"], proc),
            f"{prefix}MD5": _pooled(p.proc_hash["MD5"], proc),
        }

    def _pick_proc(self, rng: np.random.Generator, device: np.ndarray) -> np.ndarray:
        linux = device >= len(self.p.win_devices)
        win = rng.choice(len(_WIN_PROCS), len(device), p=_weights(_WIN_PROCS))
        lin = rng.choice(len(_LINUX_CMDS), len(device), p=_weights(_LINUX_CMDS)) + len(_WIN_PROCS)
        return np.where(linux, lin, win)

    def DeviceNetworkEvents(self, n: int) -> pa.Table:  # noqa: N802
        s, rng = self.sessions(n), self.rng("DeviceNetworkEvents")
        dev = s["device"]
        proc = self._pick_proc(rng, dev)
        t = _ts(s["time"] + rng.integers(20_000, 120_000, n))
        remote = s["host"] + np.where(s["v6"], len(self.p.hosts), 0)
        columns = {
            "TenantId": constant_strings(TENANT_ID, n),
            "Timestamp": t,
            "TimeGenerated": t,
            "Type": constant_strings("DeviceNetworkEvents", n),
            "ActionType": _pooled(
                ["ConnectionSuccess", "ConnectionFailed", "ConnectionRequest"], rng.choice(3, n, p=[0.92, 0.03, 0.05])
            ),
            "DeviceId": _pooled(self.p.device_ids, dev),
            "DeviceName": _pooled(self.p.devices, dev),
            "LocalIP": _pooled(self.p.device_ips, dev),
            "LocalIPType": constant_strings("Private", n),
            "LocalPort": rng.integers(32768, 61000, n).astype(np.int32),
            "RemoteIP": _pooled(self.p.host_v4 + self.p.host_v6, remote),
            "RemoteIPType": constant_strings("Public", n),
            "RemotePort": np.where(rng.random(n) < 0.95, 443, 80).astype(np.int32),
            "RemoteUrl": _pooled(self.p.hosts, s["host"]),
            "Protocol": constant_strings("Tcp", n),
            "InitiatingProcessCommandLine": _pooled([a[2] for a in self.p.procs], proc),
            "InitiatingProcessId": rng.integers(1000, 60000, n),
            "InitiatingProcessAccountName": _pooled(self.p.device_account, dev),
            "InitiatingProcessAccountUpn": _pooled(self.p.device_user, dev),
            "InitiatingProcessAccountDomain": _pooled(self.p.device_domain, dev),
            "ReportId": rng.integers(1000, 10**7, n),
        }
        columns.update(self._proc_columns("InitiatingProcess", proc))
        return _table(self.registry["DeviceNetworkEvents"], columns)

    def CommonSecurityLog(self, n: int) -> pa.Table:  # noqa: N802
        s, rng = self.sessions(n), self.rng("CommonSecurityLog")
        dev, host = s["device"], s["host"]
        blocked = rng.random(n) < 0.02
        status = np.where(blocked, 3, rng.choice(3, n, p=[0.9, 0.07, 0.03]))
        statuses = ["200", "304", "302", "403"]
        ext = [
            f"reason={'Blocked' if st == '403' else 'Allowed'};outcome={st};cat=Internet Services;rulelabel=None;"
            "ruletype=None;urlclass=Business Use;devicemodel=Virtual Machine"
            for st in statuses
        ]
        action = _pooled(["Allowed", "Blocked"], blocked.astype(np.int8))
        return _table(
            self.registry["CommonSecurityLog"],
            {
                "TenantId": constant_strings(TENANT_ID, n),
                "TimeGenerated": _ts(s["time"] + rng.integers(150_000, 400_000, n)),
                "Type": constant_strings("CommonSecurityLog", n),
                "DeviceVendor": constant_strings("Zscaler", n),
                "DeviceProduct": constant_strings("NSSWeblog", n),
                "DeviceVersion": constant_strings("5.7", n),
                "DeviceEventClassID": action,
                "Activity": action,
                "DeviceAction": action,
                "SimplifiedDeviceAction": action,
                "LogSeverity": constant_strings("3", n),
                "Computer": constant_strings(DEFAULT_PROXY["name"], n),
                "DeviceAddress": constant_strings(DEFAULT_PROXY["ip"], n),
                "CommunicationDirection": constant_strings("1", n),
                "SourceIP": _pooled(self.p.device_ips, dev),
                "SourceHostName": _pooled(self.p.devices, dev),
                "SourceUserName": _pooled(self.p.device_user, dev),
                "DestinationIP": _pooled(self.p.host_v4, host),
                "DestinationPort": np.full(n, 443, dtype=np.int32),
                "DestinationHostName": _pooled(self.p.hosts, host),
                "DestinationDnsDomain": _pooled(self.p.hosts, host),
                "DestinationServiceName": constant_strings("General Browsing", n),
                "ApplicationProtocol": constant_strings("HTTPS", n),
                "RequestURL": _pooled(self.p.urls, s["url"]),
                "RequestMethod": _pooled(["GET", "POST", "PUT"], rng.choice(3, n, p=[0.85, 0.12, 0.03])),
                "RequestClientApplication": _pooled(self.p.user_agents, rng.integers(0, len(self.p.user_agents), n)),
                "FileType": constant_strings("HTML", n),
                "SentBytes": rng.integers(200, 4000, n),
                "ReceivedBytes": rng.integers(300, 200_000, n),
                "EventOutcome": _pooled(statuses, status),
                "AdditionalExtensions": _pooled(ext, status),
            },
        )

    def DeviceProcessEvents(self, n: int) -> pa.Table:  # noqa: N802
        rng = self.rng("DeviceProcessEvents")
        dev = rng.integers(0, len(self.p.devices), n)
        proc = self._pick_proc(rng, dev)
        t = _ts(_times(rng, self.now, self.window, n))
        linux = (dev >= len(self.p.win_devices)).astype(np.int8)
        columns = {
            "TenantId": constant_strings(TENANT_ID, n),
            "Timestamp": t,
            "TimeGenerated": t,
            "ProcessCreationTime": t,
            "Type": constant_strings("DeviceProcessEvents", n),
            "ActionType": constant_strings("ProcessCreated", n),
            "DeviceId": _pooled(self.p.device_ids, dev),
            "DeviceName": _pooled(self.p.devices, dev),
            "AccountName": _pooled(self.p.device_account, dev),
            "AccountUpn": _pooled(self.p.device_user, dev),
            "AccountDomain": _pooled(self.p.device_domain, dev),
            "ProcessCommandLine": _pooled([a[2] for a in self.p.procs], proc),
            "ProcessId": rng.integers(1000, 60000, n),
            "ProcessIntegrityLevel": _pooled(["Medium", ""], linux),
            "ProcessTokenElevation": _pooled(["Default", ""], linux),
            "InitiatingProcessFileName": _pooled(["explorer.exe", "bash"], linux),
            "InitiatingProcessFolderPath": _pooled([r"C:\Windows\explorer.exe", "/usr/bin/bash"], linux),
            "InitiatingProcessCommandLine": _pooled(["explorer.exe", "-bash"], linux),
            "InitiatingProcessId": rng.integers(300, 1000, n),
            "InitiatingProcessAccountName": _pooled(self.p.device_account, dev),
            "ReportId": rng.integers(1000, 10**7, n),
        }
        columns.update(self._proc_columns("", proc))
        return _table(self.registry["DeviceProcessEvents"], columns)

    def Syslog(self, n: int) -> pa.Table:  # noqa: N802
        rng = self.rng("Syslog")
        nl = len(self.p.linux_devices)
        dev = rng.integers(0, nl, n)
        t = _times(rng, self.now, self.window, n)
        kind = rng.choice(4, n, p=[0.4, 0.2, 0.2, 0.2])
        secs = pc.cast(pa.array(t // 1_000_000), pa.string())
        millis = pc.utf8_lpad(pc.cast(pa.array((t // 1000) % 1000), pa.string()), 3, "0")
        serial = pc.cast(pa.array(rng.integers(1000, 10**6, n)), pa.string())
        execve = [
            f"argc={len(c.split())} " + " ".join(f'a{i}="{a}"' for i, a in enumerate(c.split()))
            for _, _, c, _ in _LINUX_CMDS
        ]
        cmd = rng.integers(0, len(_LINUX_CMDS), n)
        audit = pc.binary_join_element_wise(
            "type=EXECVE msg=audit(", secs, ".", millis, ":", serial, "): ", _pooled(execve, cmd).cast(pa.string()), ""
        )
        peer = pc.cast(pa.array(rng.integers(2, 250, n)), pa.string())
        sshd = pc.binary_join_element_wise(
            "Accepted publickey for deploy from 10.0.5.", peer, " port ", serial, " ssh2: ED25519 SHA256:q3XbE1f0aZ", ""
        )
        cron = _pooled(
            ["(root) CMD (/usr/lib/sysstat/debian-sa1 1 1)", "(www-data) CMD (php /var/www/cron.php)"],
            rng.integers(0, 2, n),
        ).cast(pa.string())
        systemd = pc.binary_join_element_wise("Started Session ", serial, " of User deploy.", "")
        conds = pc.make_struct(
            pa.array(kind == 0), pa.array(kind == 1), pa.array(kind == 2), field_names=["a", "s", "c"]
        )
        message = pc.case_when(conds, audit, sshd, cron, systemd)
        return _table(
            self.registry["Syslog"],
            {
                "TenantId": constant_strings(TENANT_ID, n),
                "TimeGenerated": _ts(t),
                "EventTime": _ts(t),
                "Type": constant_strings("Syslog", n),
                "SourceSystem": constant_strings("Linux", n),
                "Computer": _pooled(self.p.linux_devices, dev),
                "HostName": _pooled(self.p.linux_devices, dev),
                "HostIP": _pooled(self.p.device_ips[-nl:], dev),
                "Facility": _pooled(["user", "authpriv", "cron", "daemon"], kind),
                "SeverityLevel": constant_strings("info", n),
                "ProcessName": _pooled(["audisp-syslog", "sshd", "CRON", "systemd"], kind),
                "ProcessID": rng.integers(300, 40000, n).astype(np.int32),
                "SyslogMessage": message,
                "MG": constant_strings("00000000-0000-0000-0000-000000000002", n),
            },
        )

    def AzureActivity(self, n: int) -> pa.Table:  # noqa: N802
        rng, p = self.rng("AzureActivity"), self.p
        ops = max((n + 1) // 2, 1)
        names = ["app01", "web-frontend", "api-gateway", "data-lake", "vm-build-01", "kv-secrets", "nsg-dmz"]
        combos = [
            (o, si, g, nm)
            for o in range(len(_ARM_OPS))
            for si in range(len(p.subscriptions))
            for g in range(len(p.groups))
            for nm in range(len(names))
        ]
        per_op = len(combos) // len(_ARM_OPS)
        rids = [
            f"/subscriptions/{p.subscriptions[si]}/resourceGroups/{p.groups[g]}/providers/{_ARM_OPS[o][2]}/{names[nm]}"
            for o, si, g, nm in combos
        ]
        op = rng.choice(len(_ARM_OPS), ops, p=_weights(_ARM_OPS))
        combo = op * per_op + rng.integers(0, per_op, ops)
        failed = rng.random(ops) < 0.04
        rep = np.repeat(np.arange(ops), 2)[:n]  # each operation: a Start row, then Success/Failure
        phase = np.tile([0, 1], ops)[:n]
        status = np.where(phase == 0, 0, np.where(failed[rep], 2, 1))
        start = _times(rng, self.now - timedelta(minutes=1), self.window, ops)
        t = start[rep] + phase * rng.integers(3_000_000, 40_000_000, n)
        cm, opi = combo[rep], op[rep]
        caller = rng.integers(0, len(p.admins), ops)[rep]
        caller_ip = rng.integers(0, len(p.public_ips), ops)[rep]
        providers = [o[0].split("/")[0] for o in _ARM_OPS]
        return _table(
            self.registry["AzureActivity"],
            {
                "TenantId": constant_strings(TENANT_ID, n),
                "TimeGenerated": _ts(t),
                "EventSubmissionTimestamp": _ts(t + 5_000_000),
                "Type": constant_strings("AzureActivity", n),
                "SourceSystem": constant_strings("Azure", n),
                "OperationName": _pooled([o[1] for o in _ARM_OPS], opi),
                "OperationNameValue": _pooled([o[0] for o in _ARM_OPS], opi),
                "Level": _pooled(["Informational", "Informational", "Error"], status),
                "ActivityStatus": _pooled(["Started", "Succeeded", "Failed"], status),
                "ActivityStatusValue": _pooled(["Start", "Success", "Failure"], status),
                "ResourceGroup": _pooled([p.groups[c[2]] for c in combos], cm),
                "SubscriptionId": _pooled([p.subscriptions[c[1]] for c in combos], cm),
                "CorrelationId": guids(rng, ops).take(pa.array(rep)),
                "Caller": _pooled(p.admins, caller),
                "CallerIpAddress": _pooled(p.public_ips, caller_ip),
                "Category": constant_strings("Administrative", n),
                "CategoryValue": constant_strings("Administrative", n),
                "ResourceId": _pooled(rids, cm),
                "_ResourceId": _pooled([r.lower() for r in rids], cm),
                "Resource": _pooled([names[c[3]] for c in combos], cm),
                "ResourceProvider": _pooled(providers, opi),
                "ResourceProviderValue": _pooled(providers, opi),
                "OperationId": guids(rng, n),
                "EventDataId": guids(rng, n),
                "Hierarchy": _pooled([f"{TENANT_ID}/{p.subscriptions[c[1]]}" for c in combos], cm),
            },
        )

    def email(self, n: int, n_url: int, n_click: int) -> dict[str, pa.Table]:
        """EmailEvents, EmailUrlInfo (URLs spread over the messages) and clicks on delivered URLs."""
        rng, p = self.rng("email"), self.p
        t = _times(rng, self.now, self.window, n)
        ids = guids(rng, n)
        intra = rng.random(n) < 0.1
        sender_i = rng.integers(0, len(p.senders), n)
        sender = np.where(intra, len(p.senders) + rng.integers(0, len(p.users), n), sender_i)
        sender_pool = pa.array(p.senders + p.users)
        domain_pool = [s.split("@")[1] for s in p.senders + p.users]
        recipient = rng.integers(0, len(p.users), n)
        action = rng.choice(4, n, p=[0.9, 0.05, 0.04, 0.01])
        locations = ["Inbox/Folder", "Junk", "Quarantine", "Inbox/Folder"]
        msg = np.sort(rng.integers(0, n, n_url)) if n else np.zeros(0, dtype=np.int64)
        events = _table(
            self.registry["EmailEvents"],
            {
                "TimeGenerated": _ts(t),
                "TenantId": constant_strings(TENANT_ID, n),
                "Type": constant_strings("EmailEvents", n),
                "NetworkMessageId": ids,
                "InternetMessageId": pc.binary_join_element_wise(
                    "<", ids, "@", _pooled(domain_pool, sender).cast(pa.string()), ">", ""
                ),
                "ReportId": guids(rng, n),
                "SenderFromAddress": _pooled(sender_pool, sender),
                "SenderFromDomain": _pooled(domain_pool, sender),
                "SenderMailFromAddress": _pooled(sender_pool, sender),
                "SenderMailFromDomain": _pooled(domain_pool, sender),
                "SenderDisplayName": _pooled(p.sender_names, sender_i),
                "SenderIPv4": _pooled(p.public_ips, rng.integers(0, len(p.public_ips), n)),
                "RecipientEmailAddress": _pooled(p.users, recipient),
                "Subject": _pooled(p.subjects, rng.integers(0, len(p.subjects), n)),
                "EmailDirection": _pooled(["Inbound", "Intra-org"], intra.astype(np.int8)),
                "DeliveryAction": _pooled(["Delivered", "Junked", "Blocked", "Replaced"], action),
                "DeliveryLocation": _pooled(locations, action),
                "LatestDeliveryLocation": _pooled(locations, action),
                "ThreatTypes": _pooled(["", "Spam", "Phish", "Malware"], action),
                "AuthenticationDetails": _pooled(p.auth, np.select([action == 2, action == 1], [2, 1], 0)),
                "UrlCount": np.bincount(msg, minlength=n).astype(np.int32),
                "AttachmentCount": rng.choice(3, n, p=[0.8, 0.15, 0.05]).astype(np.int32),
                "BulkComplaintLevel": rng.integers(0, 8, n).astype(np.int32),
                "EmailLanguage": constant_strings("en", n),
                "EmailClusterId": rng.integers(10**9, 10**10, n),
            },
        )
        url = rng.choice(len(p.urls), n_url, p=p.url_p)
        urls = _table(
            self.registry["EmailUrlInfo"],
            {
                "TimeGenerated": _ts(t[msg]),
                "TenantId": constant_strings(TENANT_ID, n_url),
                "Type": constant_strings("EmailUrlInfo", n_url),
                "NetworkMessageId": ids.take(pa.array(msg, type=pa.int64())),
                "ReportId": guids(rng, n_url),
                "Url": _pooled(p.urls, url),
                "UrlDomain": _pooled(p.hosts, p.url_host[url]),
                "UrlLocation": _pooled(["Body", "Attachment"], (rng.random(n_url) < 0.05).astype(np.int8)),
            },
        )
        delivered = np.flatnonzero(action[msg] == 0)  # clicks only on delivered mail, after delivery
        n_click = n_click if len(delivered) else 0
        pick = delivered[rng.integers(0, max(len(delivered), 1), n_click)]
        cm = msg[pick]
        end = np.datetime64(self.now, "us").astype(np.int64)
        click_t = np.minimum(t[cm] + 1 + ((end - t[cm]) * rng.random(n_click)).astype(np.int64), end)
        clicked = url[pick]
        blocked = rng.random(n_click) < 0.02
        clicks = _table(
            self.registry["UrlClickEvents"],
            {
                "TimeGenerated": _ts(click_t),
                "TenantId": constant_strings(TENANT_ID, n_click),
                "Type": constant_strings("UrlClickEvents", n_click),
                "ReportId": guids(rng, n_click),
                "NetworkMessageId": ids.take(pa.array(cm, type=pa.int64())),
                "Url": _pooled(p.urls, clicked),
                "UrlChain": _pooled([json.dumps([u]) for u in p.urls], clicked),
                "AccountUpn": _pooled(p.users, recipient[cm]),
                "IPAddress": _pooled(p.public_ips, rng.integers(0, len(p.public_ips), n_click)),
                "ActionType": _pooled(["ClickAllowed", "ClickBlocked"], blocked.astype(np.int8)),
                "IsClickedThrough": ~blocked,
                "Workload": constant_strings("Email", n_click),
            },
        )
        return {"EmailEvents": events, "EmailUrlInfo": urls, "UrlClickEvents": clicks}
