"""Rows for any registered table: every column an author does not give gets a realistic, typed value.

A detection reads a handful of columns; the rest of a row still has to look like a real workspace's
(a host name where a host name goes, an IP where an IP goes, Windows event XML in
`SecurityEvent.EventData`), so that a query that happens to touch another column meets a plausible
value, never an empty one it would not meet in production. The value is chosen by what the column
means (its name and Kusto type, a few table-specific overrides) and by its documented values where
`harness/data/schemas/enums.json` or `synthetic/pools/enums.json` list them.

Determinism: every value comes from numpy generators and a Faker seeded by (seed, salt, table,
column), so the same call gives the same rows on every machine, and adding a column to a schema
changes no other column. Within a row, values agree with each other: one person (user, UPN, SID,
host, IP) per row, one process per column prefix (file name, folder, command line and hashes of the
same binary), event XML built from the row's own columns.

Public API (used by the `rows` step, the rule scaffold and the corpus runner):

- `RowFiller(registry=None, seed=0)`: one filler per registry and seed (pools are cached per salt).
- `RowFiller.table(table, n, *, start, end=None, salt="") -> pyarrow.Table`: n full-schema rows,
  times spread evenly over [start, end] (all at `start` when `end` is None), Arrow typed by the schema.
- `RowFiller.complete(table, rows, *, times, salt="") -> list[dict]`: the given partial rows with
  every missing column filled (given values are kept as they are; derived columns such as
  `SecurityEvent.EventData` or `Activity` are built from the final row).
- `RowFiller.row(table, given=None, *, time, salt="") -> dict`: one row.
- `column_kind(table, column) -> str`: the meaning the filler gives a column (e.g. `ipv4.private`,
  `upn`, `enum`), for tools that want to explain or vary a value.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pyarrow as pa

from harness.workspace.tables import Column, SchemaRegistry, TableSchema
from synthetic.entities import ORG_DOMAIN, TENANT_ID, make_faker, stable_seed
from synthetic.enums import documented_values

NT_DOMAIN = "CONTOSO"
WORKSPACE_ID = "8d3a4f5e-1c2b-4a6d-9e8f-7a6b5c4d3e2f"
SUBSCRIPTION_ID = "2f1e0d9c-8b7a-4c6d-a5e4-f3b2c1d0e9a8"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"

# -- fixed realistic pools -------------------------------------------------------------------
# (file name, folder path, command line); Windows first, then Linux.
PROCESSES: tuple[tuple[str, str, str], ...] = (
    ("svchost.exe", r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule"),
    ("explorer.exe", r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE"),
    ("msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
     '"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe" --type=renderer'),
    ("chrome.exe", r"C:\Program Files\Google\Chrome\Application\chrome.exe",
     '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" --type=utility'),
    ("OUTLOOK.EXE", r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
     '"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"'),
    ("powershell.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     "powershell.exe -NoProfile -ExecutionPolicy Bypass -Command Get-Service"),
    ("cmd.exe", r"C:\Windows\System32\cmd.exe", r'cmd.exe /c "ipconfig /all"'),
    ("OneDrive.exe", r"C:\Program Files\Microsoft OneDrive\OneDrive.exe",
     '"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe" /background'),
    ("MsMpEng.exe", r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24040.4-0\MsMpEng.exe",
     r'"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24040.4-0\MsMpEng.exe"'),
    ("ms-teams.exe", r"C:\Program Files\WindowsApps\MSTeams_24124.2315.2911.3357_x64__8wekyb3d8bbwe\ms-teams.exe",
     '"ms-teams.exe"'),
    ("lsass.exe", r"C:\Windows\System32\lsass.exe", r"C:\Windows\system32\lsass.exe"),
    ("services.exe", r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe"),
    ("python3", "/usr/bin/python3", "python3 /opt/contoso/bin/sync_metrics.py --quiet"),
    ("sshd", "/usr/sbin/sshd", "sshd: azureuser [priv]"),
    ("curl", "/usr/bin/curl", "curl -s https://api.github.com/repos/contoso/tools/releases/latest"),
    ("bash", "/usr/bin/bash", "bash -c 'systemctl status nginx'"),
)
_WINDOWS_PROCESSES = 12  # the first 12 are Windows binaries

EXTERNAL_DOMAINS = (
    "www.microsoft.com", "login.microsoftonline.com", "outlook.office365.com", "www.google.com",
    "github.com", "api.github.com", "www.linkedin.com", "cdn.jsdelivr.net", "zoom.us", "slack.com",
    "www.salesforce.com", "s3.amazonaws.com", "update.googleapis.com", "www.bing.com",
    "fabrikam.com", "northwindtraders.com", "adatum.com", "tailspintoys.com",
)
URL_PATHS = ("/", "/news", "/docs/getting-started", "/api/v1/status", "/account/settings", "/invoice/view",
             "/static/js/main.js", "/search?q=quarterly+report", "/blog/2025/product-update", "/favicon.ico")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 "
    "Safari/537.36 Edg/125.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17628; Pro)",
)
SERVICE_PORTS = (443, 443, 443, 80, 53, 445, 3389, 22, 8443, 389)
SEVERITIES = ("Informational", "Low", "Medium", "High")
ARM_OPERATIONS = (
    ("Microsoft.Compute/virtualMachines/write", "Create or Update Virtual Machine", "Microsoft.Compute",
     "virtualMachines", "PUT"),
    ("Microsoft.Compute/virtualMachines/start/action", "Start Virtual Machine", "Microsoft.Compute",
     "virtualMachines", "POST"),
    ("Microsoft.Storage/storageAccounts/listKeys/action", "List Storage Account Keys", "Microsoft.Storage",
     "storageAccounts", "POST"),
    ("Microsoft.Network/networkSecurityGroups/write", "Create or Update Network Security Group",
     "Microsoft.Network", "networkSecurityGroups", "PUT"),
    ("Microsoft.KeyVault/vaults/write", "Update Key Vault", "Microsoft.KeyVault", "vaults", "PUT"),
    ("Microsoft.Web/sites/restart/Action", "Restart Web App", "Microsoft.Web", "sites", "POST"),
)
RESOURCE_GROUPS = ("rg-prod-web", "rg-prod-data", "rg-dev-sandbox", "rg-shared-network", "rg-identity")
SECURITY_EVENTS: dict[int, tuple[str, tuple[str, ...]]] = {
    # event id -> (Activity text, the EventData fields Windows writes for it, in order)
    4624: ("An account was successfully logged on.", (
        "SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "TargetUserSid",
        "TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType", "LogonProcessName",
        "AuthenticationPackageName", "WorkstationName", "LogonGuid", "ProcessId", "ProcessName", "IpAddress",
        "IpPort")),
    4625: ("An account failed to log on.", (
        "SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "TargetUserSid",
        "TargetUserName", "TargetDomainName", "Status", "FailureReason", "SubStatus", "LogonType",
        "LogonProcessName", "AuthenticationPackageName", "WorkstationName", "ProcessId", "ProcessName",
        "IpAddress", "IpPort")),
    4634: ("An account was logged off.", (
        "TargetUserSid", "TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType")),
    4672: ("Special privileges assigned to new logon.", (
        "SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "PrivilegeList")),
    4688: ("A new process has been created.", (
        "SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "NewProcessId",
        "NewProcessName", "TokenElevationType", "ProcessId", "CommandLine", "TargetUserSid", "TargetUserName",
        "TargetDomainName", "TargetLogonId", "ParentProcessName", "MandatoryLabel")),
    4720: ("A user account was created.", (
        "TargetUserName", "TargetDomainName", "TargetSid", "SubjectUserSid", "SubjectUserName",
        "SubjectDomainName", "SubjectLogonId", "SamAccountName", "DisplayName", "UserPrincipalName")),
    4732: ("A member was added to a security-enabled local group.", (
        "MemberName", "MemberSid", "TargetUserName", "TargetDomainName", "TargetSid", "SubjectUserSid",
        "SubjectUserName", "SubjectDomainName", "SubjectLogonId")),
    4776: ("The computer attempted to validate the credentials for an account.", (
        "PackageName", "TargetUserName", "Workstation", "Status")),
}
_EVENT_IDS = (4624, 4624, 4624, 4634, 4634, 4672, 4688, 4688, 4688, 4625, 4776, 4720, 4732)
_SOURCE_SYSTEM = {
    "SecurityEvent": "OpsManager", "Event": "OpsManager", "Syslog": "Linux", "CommonSecurityLog": "OpsManager",
    "WindowsFirewall": "OpsManager", "W3CIISLog": "OpsManager", "WireData": "OpsManager",
    "VMConnection": "OpsManager", "WindowsEvent": "OpsManager",
}


# -- column meaning ----------------------------------------------------------------------------
_PUBLIC_SIDE = re.compile(r"^(Dst|Destination|Remote|Public|Malicious|Sender|NetworkDestination|Threat|"
                          r"DnsResponse|Target|Caller|Client|Actor|Request|Email|Ip)")
_LOCAL_SIDE = re.compile(r"^(Src|Source|Local|Host|Dvc|Device|NetworkSource|NAS|Computer)")
_OVERRIDES: dict[tuple[str, str], str] = {
    ("SecurityEvent", "EventData"): "windows.eventxml",
    ("Event", "EventData"): "windows.dataitemxml",
    ("WindowsEvent", "EventData"): "windows.eventjson",
    ("SecurityEvent", "EventID"): "windows.eventid",
    ("WindowsEvent", "EventID"): "windows.eventid",
    ("SecurityEvent", "Activity"): "windows.activity",
    ("SecurityEvent", "Account"): "account.domain",
    ("SecurityEvent", "EventSourceName"): "windows.securityprovider",
    ("WindowsEvent", "Provider"): "windows.securityprovider",
    ("SecurityEvent", "Channel"): "windows.securitychannel",
    ("WindowsEvent", "Channel"): "windows.securitychannel",
    ("SecurityEvent", "LogonType"): "windows.logontype",
    ("SecurityEvent", "ProcessId"): "pid.hex",
    ("SecurityEvent", "NewProcessId"): "pid.hex",
    ("SecurityEvent", "Status"): "windows.status",
    ("SecurityEvent", "SubStatus"): "windows.status",
    ("SecurityEvent", "Process"): "process.file_name",
    ("SecurityEvent", "LogonProcessName"): "windows.logonprocess",
    ("SecurityEvent", "AuthenticationPackageName"): "windows.authpackage",
    ("SecurityEvent", "TokenElevationType"): "windows.elevation",
    ("SecurityEvent", "MandatoryLabel"): "windows.label",
    ("SecurityEvent", "AccessMask"): "windows.accessmask",
    ("SecurityEvent", "LogonTypeName"): "windows.logontypename",
    ("SecurityEvent", "PrivilegeList"): "windows.privileges",
    ("SecurityEvent", "UserAccountControl"): "windows.uac",
    ("SecurityEvent", "Level"): "windows.level",
    ("SecurityEvent", "FailureReason"): "windows.failurereason",
    ("Event", "EventID"): "windows.systemeventid",
    ("Event", "Source"): "windows.systemsource",
    ("Event", "EventLog"): "windows.systemlog",
    ("DnsEvents", "Name"): "domain",
    ("DnsEvents", "IPAddresses"): "ipv4.public",
    ("DnsEvents", "ClientIP"): "ipv4.private",
    ("DnsEvents", "Computer"): "host.server",
    ("AzureActivity", "Caller"): "upn",
    ("AzureActivity", "CallerIpAddress"): "ipv4.public",
    ("AzureActivity", "OperationNameValue"): "arm.operation",
    ("AzureActivity", "OperationName"): "arm.operation_name",
    ("AzureActivity", "ResourceProviderValue"): "arm.provider",
    ("AzureActivity", "ResourceProvider"): "arm.provider",
    ("AzureActivity", "Properties"): "arm.properties",
    ("AzureActivity", "Authorization"): "arm.authorization",
    ("AzureActivity", "HTTPRequest"): "arm.httprequest",
    ("AzureActivity", "Claims"): "arm.claims",
    ("AzureActivity", "ResourceId"): "resource_id",
    ("AzureActivity", "_ResourceId"): "resource_id",
    ("OfficeActivity", "UserId"): "upn",
    ("OfficeActivity", "ClientIP"): "ipv4.public",
    ("OfficeActivity", "Operation"): "office.operation",
    ("Syslog", "ProcessName"): "process.file_name",
    ("Syslog", "SyslogMessage"): "syslog.message",
    ("Syslog", "HostName"): "host",
    ("CommonSecurityLog", "DeviceVendor"): "cef.vendor",
    ("CommonSecurityLog", "DeviceProduct"): "cef.product",
    ("CommonSecurityLog", "DeviceVersion"): "cef.version",
    ("CommonSecurityLog", "LogSeverity"): "cef.severity",
    ("CommonSecurityLog", "Activity"): "cef.activity",
    ("CommonSecurityLog", "DeviceAction"): "action",
    ("DeviceNetworkEvents", "RemoteUrl"): "domain",
    ("SigninLogs", "ResultType"): "signin.resulttype",
    ("AADNonInteractiveUserSignInLogs", "ResultType"): "signin.resulttype",
    ("SigninLogs", "AppDisplayName"): "signin.app",
    ("AADNonInteractiveUserSignInLogs", "AppDisplayName"): "signin.app",
    ("SigninLogs", "Location"): "country",
    ("AADNonInteractiveUserSignInLogs", "Location"): "country",
}

# (pattern on the column name, Kusto types it applies to or None for any, kind); first match wins.
_RULES: tuple[tuple[str, tuple[str, ...] | None, str], ...] = (
    (r"^(TimeGenerated|Timestamp|EventTime|EventStartTime|EventEndTime|TimeCollected)$", ("datetime",), "time.exact"),
    (r"(End|Expir|Until|TimeToLive|LastSeen|LastUpdated|Modified|Processed)", ("datetime",), "time.after"),
    (r"", ("datetime",), "time.before"),
    (r"", ("timespan",), "timespan"),
    (r"^Type$", ("string",), "table"),
    (r"(TenantId|^Tenant_g)$", None, "tenant"),
    (r"^WorkspaceId$", None, "workspace"),
    (r"^SourceSystem$", None, "source_system"),
    (r"^(_ResourceId|ResourceId|ResourceUri|LinkedResourceUri|ResourceIdentity)$", ("string",), "resource_id"),
    (r"SubscriptionId$", None, "subscription"),
    (r"ResourceGroup$", ("string",), "resource_group"),
    (r"^_BilledSize$", None, "billed_size"),
    (r"^(_IsBillable|IsBillable)$", None, "true"),
    (r"^MG$", None, "mg"),
    (r"^ManagementGroupName$", None, "management_group"),
    (r"(IPv6|Ipv6)", ("string",), "ipv6"),
    (r"(MAC|Mac)(Address|Addr)?$", ("string",), "mac"),
    (r"(EmailAddress|MailAddress|MailAddresses|FromAddress|EmailRecipient|SenderAddress|Smtp)$", None, "email"),
    (r"(IP|Ip|IpAddr|IPAddress|IpAddress|IPv4|IPAddresses|Address|^Src|^Dst|CidrIp|MaliciousIP)$",
     ("string", "dynamic"), "ipv4"),
    (r"(Port|PortNumber)$", ("int", "long", "string"), "port"),
    (r"SHA256$|^(FileHash|Hash|FileHashValue|OldFileHash)$", ("string",), "hash.sha256"),
    (r"SHA1$|(IssuerHash|SignerHash|CACertificateHash|CAPublicKeyHash|CertificateDatabaseHash)$", ("string",),
     "hash.sha1"),
    (r"MD5$", ("string",), "hash.md5"),
    (r"SHA512$", ("string",), "hash.sha512"),
    (r"(Sid|SID)$|^SidHistory$", ("string",), "sid"),
    (r"^DeviceId$|^(MergedToDeviceId|SourceComputerId)$", ("string",), "device_id"),
    (r"(Upn|UPN|UserPrincipalName|^ActorPrincipalName|TargetPrincipalName)$", ("string",), "upn"),
    (r"^(Caller|UserKey)$", ("string",), "upn"),
    (r"(LogonId|LogonID)$", ("long", "int"), "int.logon_id"),
    (r"(LogonId|LogonID)$", ("string",), "logon_id.hex"),
    (r"(ProcessId|ProcessID|ThreadId|^NewProcessId)$", ("long", "int"), "pid"),
    (r"(ProcessId|ProcessID)$", ("string",), "pid.string"),
    (r"(Guid|GUID|_g)$|(CorrelationId|OperationId|ObjectId|AppId|ActivityId|RequestId|SessionId|SessionID|"
     r"AlertId|SystemAlertId|IndicatorId|WatchlistId|WatchlistItemId|ItemId|ServicePrincipalId|AadDeviceId|"
     r"ApplicationId|UniqueTokenIdentifier|AgentId|MachineId|OfficeId|NetworkMessageId|EventOriginId|"
     r"OriginalRequestId|ClientAppId|AzureADAppId|OAuthApplicationId|DeviceObjectId|ChatThreadId|"
     r"SrcProcessGuid|ActingProcessGuid|ReportId|AwsEventId|AwsRequestId|ThreatId|VendorOriginalId|"
     r"ExternalIndicatorId|ElevationRequestId|MeterId|SharedEventId|InterfaceUuid|^Id)$",
     ("string", "guid"), "guid"),
    (r"", ("guid",), "guid"),
    (r"(FileName|ProcessName|FolderPath|FilePath|CommandLine|^Process|^Image|ParentProcess)$", ("string",),
     "process"),
    (r"^(Account|TargetAccount|SubjectAccount)$", ("string",), "account.domain"),
    (r"(AccountName|UserName|Username|SamAccountName|SAMAccountName|^User$|^TargetUser$|^MemberName$|"
     r"^ServiceAccount$|^Actor$|ActorName|^Identity$|^SubjectUserName$|UserId$|^Requester$)", ("string",),
     "account"),
    (r"(DisplayName$|^GivenName$|^Surname$)", ("string",), "person"),
    (r"(AccountDomain|DomainName$|NTDomain|NtDomain|UserDomain|^DvcDomain$|^SrcDomain$|^DstDomain$)",
     ("string",), "nt_domain"),
    (r"(DnsDomain|FromDomain|UrlDomain|EmailSourceDomain|QueryTarget|^DnsQuery$|DnsResponseName|^Domain$)",
     ("string",), "domain"),
    (r"(FQDN|Fqdn)$", ("string",), "fqdn"),
    (r"(Computer|HostName|Hostname|DeviceName|^Dvc$|^Machine$|Workstation|WorkstationName|MachineName|"
     r"^Device$|^SourceDevice$|^DestinationDevice$|DCDNSName|ServerName|CollectorHostName|^HttpHost$|"
     r"^RemoteDeviceName$|^Client$|^ClientName$)$", ("string",), "host"),
    (r"(UserAgent|^RequestClientApplication$|^ClientInfoString$)$", ("string",), "user_agent"),
    (r"(Url|URL|Uri|URI|Referrer|UrlOriginal|UrlChain|Site_Url|AlertLink|ReportReferenceLink|HelpURL|Link)$",
     ("string",), "url"),
    (r"(Directory|Folder|HomePath|ProfilePath|ScriptPath|ShareLocalPath|ServiceFileName|FilePathNoUser)$",
     ("string",), "path"),
    (r"^(RegistryKey|PreviousRegistryKey)$", ("string",), "registry_key"),
    (r"(Bytes|FileSize|SizeInBytes|^Size$)", ("int", "long", "real"), "bytes"),
    (r"Packets", ("int", "long", "real"), "packets"),
    (r"(Duration|DurationMs|Latency|TimeTaken|TimeInMs|ResponseTime)", ("int", "long", "real"), "duration_ms"),
    (r"(^EventID$|^EventId$)", ("int",), "windows.eventid"),
    (r"(Severity|^Level$|^SeverityLevel$)", ("string",), "severity"),
    (r"(Severity|Level)$", ("int", "long"), "int.severity"),
    (r"(Country|CountryOrRegion)$", ("string",), "country"),
    (r"City$", ("string",), "city"),
    (r"(Region|State)$", ("string",), "region"),
    (r"Latitude$", None, "latitude"),
    (r"Longitude$", None, "longitude"),
    (r"^(Protocol|IpProtocol|NetworkProtocol|ProtocolName|RequestProtocol|TransmittedServices)$", ("string",),
     "protocol"),
    (r"^(ApplicationProtocol|NetworkApplicationProtocol|HttpVersion)$", ("string",), "app_protocol"),
    (r"(RequestMethod|HttpRequestMethod)$", ("string",), "http_method"),
    (r"^(OSPlatform|DvcOs|OSDistribution|OperatingSystem)$", ("string",), "os"),
    (r"^(OSVersion|DvcOsVersion|OSVersionInfo)$", ("string",), "os_version"),
    (r"(Action|Disposition)$", ("string",), "action"),
    (r"(Result|ResultType|ResultStatus|Outcome|ResultDescription|^Status)$", ("string",), "result"),
    (r"Label$", ("string",), "label"),
    (r"(Message|Description|Reason|Notes|Comment|Info|Details?)$", ("string",), "sentence"),
    (r"(Title|Subject|AlertName|RuleName|ThreatName|EventName)$", ("string",), "title"),
    (r"(Category|Categories|Tactics|Techniques)$", ("string",), "category"),
    (r"(Version|Build)$", ("string",), "version"),
    (r"(Version|Build)$", ("int", "long"), "int.version"),
    (r"^(Tags|Keywords)$", ("string",), "word"),
    (r"", ("bool", "boolean"), "bool"),
    (r"", ("dynamic",), "dynamic"),
    (r"(Count|Quantity|Number|Score)", ("int", "long", "real"), "count"),
    (r"", ("int", "long"), "int"),
    (r"", ("real", "decimal"), "real"),
    (r"", ("string",), "word"),
)
_COMPILED = tuple((re.compile(p), types, kind) for p, types, kind in _RULES)
_PROCESS_SUFFIXES = (  # longest first: the prefix before the suffix names which process a column describes
    ("ProcessCommandLine", "command_line"), ("CommandLine", "command_line"),
    ("ProcessFolderPath", "folder_path"), ("FolderPath", "folder_path"), ("ProcessFileName", "file_name"),
    ("FileName", "file_name"), ("FilePath", "folder_path"), ("ProcessName", "process_name"),
    ("Process", "process_name"), ("Image", "folder_path"),
)


@lru_cache(maxsize=8192)
def _kind(table: str, name: str, kusto_type: str) -> str:
    override = _OVERRIDES.get((table, name))
    if override:
        return override
    if [v for v in documented_values().get(table, {}).get(name, ()) if v != ""]:
        return "enum"
    for pattern, types, kind in _COMPILED:
        if types is not None and kusto_type not in types:
            continue
        if pattern.pattern and not pattern.search(name):
            continue
        if kind in ("ipv4", "port"):
            public = bool(_PUBLIC_SIDE.search(name)) and not _LOCAL_SIDE.search(name)
            return f"{kind}.{'public' if public else 'private'}" if kind == "ipv4" else (
                "port.service" if public else "port.ephemeral")
        return kind
    return "word"


def column_kind(table: str, column: Column | str, registry: SchemaRegistry | None = None) -> str:
    """What a column means to the filler (`ipv4.private`, `upn`, `enum`, `windows.eventxml`, ...)."""
    if isinstance(column, str):
        schema = (registry or SchemaRegistry())[table]
        found = schema.column(column)
        if found is None:
            raise KeyError(f"table {table} has no column {column!r}")
        column = found
    return _kind(table, column.name, column.type)


def process_group(name: str) -> tuple[str, str] | None:
    """`InitiatingProcessFolderPath` -> ("InitiatingProcess", "folder_path"): which process a column
    describes and what of it. The columns of one group describe the same binary."""
    for suffix, part in _PROCESS_SUFFIXES:
        if name.endswith(suffix):
            prefix = name[: -len(suffix)]
            if prefix not in ("Parent", "InitiatingProcessParent"):
                prefix = re.sub(r"(Process|New)$", "", prefix)
            return prefix, part
    return None


def _hash_group(name: str) -> str:
    prefix = re.sub(r"(SHA256|SHA1|MD5|SHA512|FileHash|Hash|FileHashValue)$", "", name)
    return re.sub(r"Process$", "", prefix)


# -- pools ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Person:
    first: str
    last: str
    sam: str
    upn: str
    sid: str
    object_id: str
    host: str
    ip: str
    mac: str
    device_id: str

    @property
    def display(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def fqdn(self) -> str:
        return f"{self.host.lower()}.{ORG_DOMAIN}"


class _Pools:
    """Faker-made values one salt draws from: people (each with a workstation), public IPs, domains."""

    PEOPLE = 24

    def __init__(self, seed: int, salt: str) -> None:
        fake = make_faker(seed, salt, "filler-pools")
        rnd = fake.random
        parts = (rnd.randint(10**9, 4 * 10**9), rnd.randint(10**9, 4 * 10**9), rnd.randint(10**8, 10**9))
        domain_sid = "S-1-5-21-" + "-".join(str(p) for p in parts)
        people = []
        seen: set[str] = set()
        while len(people) < self.PEOPLE:
            first = fake.first_name()
            last = fake.last_name().replace(" ", "").replace("'", "")
            sam = f"{first}.{last}".lower()[:20]
            if sam in seen:
                continue
            seen.add(sam)
            host = "DESKTOP-" + "".join(rnd.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(7))
            people.append(_Person(
                first=first, last=last, sam=sam, upn=f"{sam}@{ORG_DOMAIN}",
                sid=f"{domain_sid}-{1100 + len(people)}", object_id=fake.guid(), host=host,
                ip=f"10.{rnd.randint(100, 199)}.{rnd.randint(0, 255)}.{rnd.randint(2, 254)}",
                mac="-".join(["00", "15", "5D"] + [f"{rnd.randint(0, 255):02X}" for _ in range(3)]),
                device_id=f"{rnd.getrandbits(160):040x}",
            ))
        self.people = people
        self.public_ips = [fake.ipv4_public() for _ in range(32)]
        self.ipv6 = [fake.ipv6() for _ in range(16)]
        self.domains = list(EXTERNAL_DOMAINS) + [fake.domain_name() for _ in range(14)]
        self.cities = [(fake.city(), fake.state(), round(float(fake.latitude()), 4), round(float(fake.longitude()), 4))
                       for _ in range(12)]
        self.words = [fake.word().capitalize() for _ in range(40)]
        self.sentences = [fake.sentence(nb_words=8) for _ in range(24)]
        self.titles = [fake.sentence(nb_words=4).rstrip(".") for _ in range(16)]
        self.servers = [f"dc{i:02d}.{ORG_DOMAIN}" for i in range(1, 4)]


# -- one batch of rows -----------------------------------------------------------------------------
class _Batch:
    """Per-row draws shared by the columns of one batch: who, which process, when."""

    def __init__(self, filler: RowFiller, schema: TableSchema, n: int, times: Sequence[datetime], salt: str) -> None:
        self.table = schema.name
        self.schema = schema
        self.n = n
        self.times = list(times)
        self.salt = salt
        self.seed = filler.seed
        self.pools = filler._pools(salt)
        base = self.rng("rows")
        self.person_idx = base.integers(0, len(self.pools.people), n)
        self.peer_idx = (self.person_idx + 1 + base.integers(0, len(self.pools.people) - 1, n)) % len(self.pools.people)
        self.windows = not schema.name.startswith(("Syslog",))
        self._proc: dict[str, np.ndarray] = {}
        self.event_ids = None

    def rng(self, *parts: object) -> np.random.Generator:
        return np.random.default_rng(stable_seed(self.seed, self.salt, self.table, *parts))

    def people(self, idx: np.ndarray | None = None) -> list[_Person]:
        pool = self.pools.people
        return [pool[i] for i in (self.person_idx if idx is None else idx)]

    def process(self, group: str) -> list[tuple[str, str, str]]:
        if group not in self._proc:
            hi = _WINDOWS_PROCESSES if self.windows else len(PROCESSES)
            lo = 0 if self.windows else _WINDOWS_PROCESSES
            self._proc[group] = self.rng("process", group).integers(lo, hi, self.n)
        return [PROCESSES[i] for i in self._proc[group]]

    def pick(self, column: str, pool: Sequence[Any]) -> list[Any]:
        idx = self.rng(column).integers(0, len(pool), self.n)
        return [pool[i] for i in idx]


def _hex(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    raw = rng.bytes(n * nbytes)
    return [raw[i * nbytes:(i + 1) * nbytes].hex() for i in range(n)]


def _guids(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for h in _hex(rng, n, 16):
        h = h[:12] + "4" + h[13:16] + "89ab"[int(h[16], 16) % 4] + h[17:]
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}")
    return out


def _resource_ids(b: _Batch, col: Column) -> list[str]:
    ops = b.pick("arm", ARM_OPERATIONS)  # the same operation as OperationNameValue in the row
    groups = b.pick("resource_group", RESOURCE_GROUPS)
    people = b.people()
    return [f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{g}/providers/{op[2]}/{op[3]}/{p.host.lower()}"
            for op, g, p in zip(ops, groups, people, strict=True)]


Generator = Callable[[_Batch, Column], list[Any]]


def _time_before(b: _Batch, col: Column) -> list[Any]:
    secs = b.rng(col.name).integers(0, 300, b.n)
    return [t - timedelta(seconds=int(s)) for t, s in zip(b.times, secs, strict=True)]


def _time_after(b: _Batch, col: Column) -> list[Any]:
    secs = b.rng(col.name).integers(60, 30 * 86400, b.n)
    return [t + timedelta(seconds=int(s)) for t, s in zip(b.times, secs, strict=True)]


def _ipv4_private(b: _Batch, col: Column) -> list[Any]:
    ips = [p.ip for p in b.people()]
    return [json.dumps([ip]) for ip in ips] if col.type == "dynamic" else ips


def _ipv4_public(b: _Batch, col: Column) -> list[Any]:
    ips = b.pick(col.name, b.pools.public_ips)
    return [json.dumps([ip]) for ip in ips] if col.type == "dynamic" else ips


def _port(values: Sequence[int]) -> Generator:
    def gen(b: _Batch, col: Column) -> list[Any]:
        if len(values) == 2 and values[0] < values[1] and values[0] > 1000:
            ports = [int(v) for v in b.rng(col.name).integers(values[0], values[1], b.n)]
        else:
            ports = b.pick(col.name, values)
        return [str(p) for p in ports] if col.type == "string" else ports
    return gen


def _process_part(b: _Batch, col: Column) -> list[Any]:
    found = process_group(col.name) or ("", "folder_path")
    group, part = found
    procs = b.process(group)
    if part == "file_name":
        return [p[0] for p in procs]
    if part == "command_line":
        return [p[2] for p in procs]
    if part == "process_name" and b.table in ("Syslog", "DeviceEvents", "DeviceProcessEvents"):
        return [p[0] for p in procs]
    return [p[1] for p in procs]


def _file_name(b: _Batch, col: Column) -> list[Any]:
    return [p[0] for p in b.process(process_group(col.name)[0] if process_group(col.name) else "")]


def _hash(kind: str) -> Generator:
    def gen(b: _Batch, col: Column) -> list[Any]:
        group = _hash_group(col.name)
        procs = b.process(group)
        return [getattr(hashlib, kind)(("binary:" + p[1]).encode()).hexdigest() for p in procs]
    return gen


def _dynamic(b: _Batch, col: Column) -> list[Any]:
    name = col.name
    people = b.people()
    if re.search(r"(IPAddresses|DnsAddresses|DefaultGateways|IPs)$", name):
        return [json.dumps([p.ip]) for p in people]
    if name in ("AdditionalMailAddresses",):
        return [json.dumps([p.upn]) for p in people]
    if name in ("LoggedOnUsers",):
        return [json.dumps([{"UserName": p.sam, "DomainName": NT_DOMAIN, "Sid": p.sid}]) for p in people]
    if name in ("Members", "AssignedRoles", "GroupMembership", "ServicePrincipals", "RelatedAccounts"):
        return [json.dumps([p.upn]) for p in people]
    if name in ("DeviceDetail",):
        return [json.dumps({"deviceId": p.object_id, "displayName": p.host, "operatingSystem": "Windows10",
                            "browser": "Edge 125.0.0", "isCompliant": True, "isManaged": True,
                            "trustType": "Azure AD joined"}) for p in people]
    if name in ("LocationDetails",):
        cities = b.pick(name, b.pools.cities)
        return [json.dumps({"city": c[0], "state": c[1], "countryOrRegion": "US",
                            "geoCoordinates": {"latitude": c[2], "longitude": c[3]}}) for c in cities]
    if name in ("Status",):
        return [json.dumps({"errorCode": 0}) for _ in range(b.n)]
    if name in ("MfaDetail",):
        return [json.dumps({"authMethod": "Mobile app notification"}) for _ in range(b.n)]
    if name in ("ConnectedNetworks",):
        return [json.dumps([{"Name": ORG_DOMAIN, "Category": "Domain", "IsConnectedToInternet": True}])
                for _ in range(b.n)]
    words = b.pick(name, b.pools.words)
    return [json.dumps({"Name": w, "Source": "synthetic"}) for w in words]


def _int(lo: int, hi: int) -> Generator:
    def gen(b: _Batch, col: Column) -> list[Any]:
        values = [int(v) for v in b.rng(col.name).integers(lo, hi, b.n)]
        if col.type in ("real", "decimal"):
            return [float(v) for v in values]
        return [str(v) for v in values] if col.type == "string" else values
    return gen


def _const(value: Any) -> Generator:
    return lambda b, col: [value] * b.n


def _enum(b: _Batch, col: Column) -> list[Any]:
    values = sorted((v for v in documented_values()[b.table][col.name] if v != ""), key=str)
    picked = b.pick(col.name, values)
    if col.type in ("int", "long"):
        return [int(v) if str(v).lstrip("-").isdigit() else None for v in picked]
    if col.type in ("bool", "boolean"):
        return [bool(v) for v in picked]
    return [str(v) for v in picked]


def _typed(gen: Generator) -> Generator:
    """A generator's values, or values by type where a meaning's values do not fit the column's type
    (a port rule meeting a `real` column): a row is always schema-typed."""
    def wrapped(b: _Batch, col: Column) -> list[Any]:
        values = gen(b, col)
        if all(value_matches_type(v, col.type) for v in values):
            return values
        return _BY_TYPE[col.type](b, col)
    return wrapped


def _by_pick(pool_of: Callable[[_Batch], Sequence[Any]]) -> Generator:
    return lambda b, col: b.pick(col.name, pool_of(b))


GENERATORS: dict[str, Generator] = {
    "time.exact": lambda b, col: list(b.times),
    "time.before": _time_before,
    "time.after": _time_after,
    "timespan": lambda b, col: [timedelta(seconds=int(s)) for s in b.rng(col.name).integers(1, 3600, b.n)],
    "table": lambda b, col: [b.table] * b.n,
    "tenant": _const(TENANT_ID),
    "workspace": _const(WORKSPACE_ID),
    "source_system": lambda b, col: [_SOURCE_SYSTEM.get(b.table, "Azure")] * b.n,
    "resource_id": _resource_ids,
    "subscription": _const(SUBSCRIPTION_ID),
    "resource_group": lambda b, col: b.pick("resource_group", RESOURCE_GROUPS),
    "billed_size": lambda b, col: [float(v) for v in b.rng(col.name).integers(200, 4000, b.n)],
    "true": lambda b, col: ["True" if col.type == "string" else True] * b.n,
    "mg": _const("00000000-0000-0000-0000-000000000002"),
    "management_group": _const(f"AOI-{WORKSPACE_ID}"),
    "ipv6": _by_pick(lambda b: b.pools.ipv6),
    "mac": lambda b, col: [p.mac for p in b.people()],
    "email": lambda b, col: (
        [json.dumps([p.upn]) for p in b.people()] if col.type == "dynamic" else
        [f"{p.sam}@{d}" for p, d in zip(b.people(b.peer_idx), b.pick(col.name, EXTERNAL_DOMAINS[-4:]), strict=True)]
        if col.name.startswith("Sender") else [p.upn for p in b.people()]),
    "ipv4.private": _ipv4_private,
    "ipv4.public": _ipv4_public,
    "port.service": _port(SERVICE_PORTS),
    "port.ephemeral": _port((49152, 65535)),
    "hash.sha256": _hash("sha256"),
    "hash.sha1": _hash("sha1"),
    "hash.md5": _hash("md5"),
    "hash.sha512": _hash("sha512"),
    "sid": lambda b, col: [p.sid for p in b.people(b.peer_idx if col.name.startswith("Target") else None)],
    "device_id": lambda b, col: [p.device_id for p in b.people()],
    "upn": lambda b, col: [p.upn for p in b.people(b.peer_idx if col.name.startswith("Target") else None)],
    "int.logon_id": _int(100000, 10**9),
    "logon_id.hex": lambda b, col: [hex(int(v)) for v in b.rng(col.name).integers(0x10000, 0xFFFFFF, b.n)],
    "pid": _int(400, 40000),
    "pid.string": lambda b, col: [str(int(v)) for v in b.rng(col.name).integers(400, 40000, b.n)],
    "pid.hex": lambda b, col: [hex(int(v)) for v in b.rng(col.name).integers(0x190, 0x9C40, b.n)],
    "guid": lambda b, col: _guids(b.rng(col.name), b.n),
    "process": _process_part,
    "process.file_name": _file_name,
    "account": lambda b, col: [p.sam for p in b.people(b.peer_idx if col.name.startswith("Target") else None)],
    "account.domain": lambda b, col: [f"{NT_DOMAIN}\\{p.sam}" for p in
                                      b.people(b.peer_idx if col.name.startswith("Target") else None)],
    "person": lambda b, col: [p.first if col.name == "GivenName" else p.last if col.name == "Surname" else p.display
                              for p in b.people()],
    "nt_domain": _const(NT_DOMAIN),
    "domain": _by_pick(lambda b: b.pools.domains),
    "fqdn": lambda b, col: [p.fqdn for p in b.people()],
    "host": lambda b, col: [p.host for p in b.people(b.peer_idx if re.match(r"(Remote|Destination|Target|Dst)",
                                                                            col.name) else None)],
    "host.server": _by_pick(lambda b: b.pools.servers),
    "user_agent": _by_pick(lambda b: USER_AGENTS),
    "url": lambda b, col: [f"https://{d}{p}" for d, p in zip(b.pick(col.name, b.pools.domains),
                                                               b.pick(col.name + ":path", URL_PATHS), strict=True)],
    "path": lambda b, col: [f"C:\\Users\\{p.sam}\\Documents" for p in b.people()],
    "registry_key": _const(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"),
    "bytes": _int(200, 2_000_000),
    "packets": _int(1, 2000),
    "duration_ms": _int(1, 5000),
    "count": _int(1, 50),
    "int": _int(0, 1000),
    "int.severity": _int(1, 5),
    "int.version": _int(1, 20),
    "real": lambda b, col: [round(float(v), 3) for v in b.rng(col.name).uniform(0, 100, b.n)],
    "bool": lambda b, col: [bool(v) for v in b.rng(col.name).integers(0, 2, b.n)],
    "severity": _by_pick(lambda b: SEVERITIES),
    "country": _const("US"),
    "city": lambda b, col: [c[0] for c in b.pick(col.name, b.pools.cities)],
    "region": lambda b, col: [c[1] for c in b.pick(col.name, b.pools.cities)],
    "latitude": lambda b, col: [c[2] if col.type == "real" else str(c[2]) for c in b.pick("geo", b.pools.cities)],
    "longitude": lambda b, col: [c[3] if col.type == "real" else str(c[3]) for c in b.pick("geo", b.pools.cities)],
    "protocol": _by_pick(lambda b: ("TCP", "TCP", "TCP", "UDP")),
    "app_protocol": _by_pick(lambda b: ("HTTPS", "HTTP", "DNS")),
    "http_method": _by_pick(lambda b: ("GET", "GET", "GET", "POST")),
    "os": _const("Windows"),
    "os_version": _const("10.0.19045"),
    "action": _by_pick(lambda b: ("Allow", "Allow", "Allow", "Block")),
    "result": _by_pick(lambda b: ("Success", "Success", "Success", "Failure")),
    "label": lambda b, col: [re.sub(r"^Device|Label$", "", col.name)] * b.n,
    "sentence": _by_pick(lambda b: b.pools.sentences),
    "title": _by_pick(lambda b: b.pools.titles),
    "category": _by_pick(lambda b: ("Security", "Network", "Identity", "Application")),
    "version": _by_pick(lambda b: ("1.0", "2.1", "10.0.19045", "4.18.24040.4")),
    "word": _by_pick(lambda b: b.pools.words),
    "dynamic": _dynamic,
    "enum": _enum,
    # windows
    "windows.eventid": lambda b, col: b.pick("EventID", _EVENT_IDS),
    "windows.systemeventid": _by_pick(lambda b: (7036, 7040, 1014, 6005)),
    "windows.systemsource": _const("Service Control Manager"),
    "windows.systemlog": _const("System"),
    "windows.securityprovider": _const("Microsoft-Windows-Security-Auditing"),
    "windows.securitychannel": _const("Security"),
    "windows.logontype": lambda b, col: b.pick(col.name, (2, 3, 3, 10) if col.type != "string" else ("2", "3", "10")),
    "windows.status": _const("0x0"),
    "windows.logonprocess": _by_pick(lambda b: ("NtLmSsp ", "Kerberos", "User32 ", "Advapi  ")),
    "windows.authpackage": _by_pick(lambda b: ("NTLM", "Kerberos", "Negotiate")),
    "windows.elevation": _by_pick(lambda b: ("%%1936", "%%1937", "%%1938")),
    "windows.label": _by_pick(lambda b: ("S-1-16-8192", "S-1-16-12288", "S-1-16-16384")),
    "windows.accessmask": _const("0x100"),
    "windows.logontypename": _by_pick(lambda b: ("2 - Interactive", "3 - Network", "10 - RemoteInteractive")),
    "windows.privileges": _const("SeSecurityPrivilege SeBackupPrivilege SeRestorePrivilege"),
    "windows.uac": _const("%%2080"),
    "windows.level": _const("8"),
    "windows.failurereason": _const("%%2313"),
    # Azure Resource Manager
    "arm.operation": lambda b, col: [op[0] for op in b.pick("arm", ARM_OPERATIONS)],
    "arm.operation_name": lambda b, col: [op[1] for op in b.pick("arm", ARM_OPERATIONS)],
    "arm.provider": lambda b, col: [op[2] for op in b.pick("arm", ARM_OPERATIONS)],
    "office.operation": _by_pick(lambda b: ("FileAccessed", "FileModified", "UserLoggedIn", "MailItemsAccessed")),
    "syslog.message": _by_pick(lambda b: (
        "Accepted publickey for azureuser from 10.0.0.4 port 52144 ssh2",
        "pam_unix(sshd:session): session opened for user azureuser(uid=1000) by (uid=0)",
        "Started Daily apt download activities.", "CRON[2411]: (root) CMD (/usr/lib/php/sessionclean)")),
    "cef.vendor": _by_pick(lambda b: ("Palo Alto Networks", "Fortinet", "Check Point", "Zscaler")),
    "cef.product": _by_pick(lambda b: ("PAN-OS", "Fortigate", "VPN-1 & FireWall-1", "NSSWeblog")),
    "cef.version": _const("10.2.4"),
    "cef.severity": _by_pick(lambda b: ("1", "3", "5", "8")),
    "cef.activity": _by_pick(lambda b: ("TRAFFIC", "THREAT", "URL", "traffic:forward")),
    "signin.resulttype": _by_pick(lambda b: ("0", "0", "0", "50126", "50074")),
    "signin.app": _by_pick(lambda b: ("Office 365 Exchange Online", "Microsoft Teams", "Azure Portal",
                                      "Microsoft Office")),
}
# Derived after the author's values are in place: each is built from the final row.
_DERIVED = {"windows.eventxml", "windows.dataitemxml", "windows.eventjson", "windows.activity", "arm.properties",
            "arm.authorization", "arm.httprequest", "arm.claims"}
_BY_TYPE: dict[str, Generator] = {
    "string": GENERATORS["word"], "guid": GENERATORS["guid"], "int": GENERATORS["int"], "long": GENERATORS["int"],
    "real": GENERATORS["real"], "decimal": GENERATORS["real"], "bool": GENERATORS["bool"],
    "boolean": GENERATORS["bool"], "datetime": _time_before, "timespan": GENERATORS["timespan"],
    "dynamic": _dynamic,
}
_TYPE_OK: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str), "guid": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "real": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "decimal": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool), "boolean": lambda v: isinstance(v, bool),
    "datetime": lambda v: isinstance(v, datetime), "timespan": lambda v: isinstance(v, timedelta),
    "dynamic": lambda v: isinstance(v, str),
}


# -- derived columns -----------------------------------------------------------------------------
def _event_values(row: Mapping[str, Any], person: _Person, peer: _Person, proc: tuple[str, str, str]) -> dict:
    """The value of each EventData field: the row's column of that name, else the row's person/process."""
    fallback = {
        "SubjectUserSid": person.sid, "SubjectUserName": person.sam, "SubjectDomainName": NT_DOMAIN,
        "SubjectLogonId": "0x3e7", "TargetUserSid": peer.sid, "TargetUserName": peer.sam,
        "TargetDomainName": NT_DOMAIN, "TargetLogonId": "0x1f4a2c", "TargetSid": peer.sid, "LogonType": "3",
        "LogonProcessName": "NtLmSsp", "AuthenticationPackageName": "NTLM", "WorkstationName": person.host,
        "Workstation": person.host, "LogonGuid": "{00000000-0000-0000-0000-000000000000}", "ProcessId": "0x0",
        "ProcessName": "-", "IpAddress": person.ip, "IpPort": "0", "NewProcessId": "0x1a2c",
        "NewProcessName": proc[1], "TokenElevationType": "%%1938", "CommandLine": proc[2],
        "ParentProcessName": r"C:\Windows\explorer.exe", "MandatoryLabel": "S-1-16-8192",
        "PrivilegeList": "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeRestorePrivilege",
        "Status": "0xc000006d", "SubStatus": "0xc000006a", "FailureReason": "%%2313",
        "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", "SamAccountName": peer.sam,
        "DisplayName": peer.display, "UserPrincipalName": peer.upn, "MemberName": "-", "MemberSid": peer.sid,
    }
    out: dict[str, str] = {}
    event_id = row.get("EventID")
    fields = SECURITY_EVENTS.get(event_id, SECURITY_EVENTS[4624])[1] if isinstance(event_id, int) else ()
    for name in fields:
        value = row.get(name)
        out[name] = str(value) if value not in (None, "") else str(fallback.get(name, "-"))
    return out


def _event_xml(values: Mapping[str, str]) -> str:
    data = "".join(f"<Data Name={quoteattr(k)}>{escape(v)}</Data>" for k, v in values.items())
    return f'<EventData xmlns="{EVENT_NS}">{data}</EventData>'


def _derive(kind: str, b: _Batch, rows: list[dict[str, Any]], i: int, col: Column) -> Any:
    row = rows[i]
    person = b.pools.people[b.person_idx[i]]
    peer = b.pools.people[b.peer_idx[i]]
    if kind == "windows.activity":
        event_id = row.get("EventID")
        text = SECURITY_EVENTS.get(event_id, ("",))[0] if isinstance(event_id, int) else ""
        return f"{event_id} - {text}" if text else str(event_id or "")
    if kind in ("windows.eventxml", "windows.eventjson"):
        values = _event_values(row, person, peer, b.process("New")[i])
        return _event_xml(values) if kind == "windows.eventxml" else json.dumps(values)
    if kind == "windows.dataitemxml":
        t = row.get("TimeGenerated")
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%f0Z") if isinstance(t, datetime) else ""
        inner = _event_xml({"param1": "Windows Update", "param2": "running"})
        return (f'<DataItem type="System.XmlData" time="{stamp}" sourceHealthServiceId="{WORKSPACE_ID}">'
                f"{inner}</DataItem>")
    op = str(row.get("OperationNameValue") or ARM_OPERATIONS[0][0])
    resource = str(row.get("_ResourceId") or row.get("ResourceId") or "")
    caller = str(row.get("Caller") or person.upn)
    if kind == "arm.properties":
        return json.dumps({
            "eventCategory": str(row.get("CategoryValue") or "Administrative"), "entity": resource,
            "message": op, "hierarchy": f"{TENANT_ID}/{SUBSCRIPTION_ID}", "caller": caller,
            "activityStatusValue": str(row.get("ActivityStatusValue") or "Success"),
        })
    if kind == "arm.authorization":
        return json.dumps({"action": op, "scope": resource, "evidence": {"role": "Contributor",
                                                                         "principalType": "User"}})
    if kind == "arm.httprequest":
        return json.dumps({"clientRequestId": str(row.get("CorrelationId") or ""),
                           "clientIpAddress": str(row.get("CallerIpAddress") or person.ip), "method": "PUT"})
    if kind == "arm.claims":
        return json.dumps({"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": caller,
                           "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
                           "ipaddr": str(row.get("CallerIpAddress") or person.ip)})
    raise KeyError(kind)


# -- the filler ----------------------------------------------------------------------------------
class RowFiller:
    """Fills rows of any registered table with realistic, typed, seeded values."""

    def __init__(self, registry: SchemaRegistry | None = None, seed: int = 0) -> None:
        self.registry = registry or SchemaRegistry()
        self.seed = seed
        self._pool_cache: dict[str, _Pools] = {}

    def _pools(self, salt: str) -> _Pools:
        if salt not in self._pool_cache:
            self._pool_cache[salt] = _Pools(self.seed, salt)
        return self._pool_cache[salt]

    def schema(self, table: str) -> TableSchema:
        schema = self.registry.get(table)
        if schema is None:
            raise KeyError(f"unknown table {table!r}")
        return schema

    def plan(self, table: str) -> dict[str, str]:
        """column -> kind, in schema order."""
        return {c.name: _kind(table, c.name, c.type) for c in self.schema(table).columns}

    def complete(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        times: Sequence[datetime],
        salt: str = "",
    ) -> list[dict[str, Any]]:
        """Each given row with every missing column filled; given values are kept unchanged.

        `times[i]` is row i's TimeGenerated unless the row gives one. Values are Python objects:
        datetimes are naive UTC, dynamic columns JSON text.
        """
        schema = self.schema(table)
        n = len(rows)
        if len(times) != n:
            raise ValueError(f"{n} rows but {len(times)} times")
        batch = _Batch(self, schema, n, [self._naive(t) for t in times], salt)
        out: list[dict[str, Any]] = [dict(r) for r in rows]
        derived: list[tuple[Column, str]] = []
        for col in schema.columns:
            kind = _kind(table, col.name, col.type)
            if kind in _DERIVED:
                derived.append((col, kind))
                continue
            missing = [i for i, r in enumerate(rows) if col.name not in r]
            if not missing:
                continue
            values = _typed(GENERATORS[kind])(batch, col) if kind in GENERATORS else _BY_TYPE[col.type](batch, col)
            for i in missing:
                out[i][col.name] = values[i]
        for col, kind in derived:
            for i, r in enumerate(rows):
                if col.name not in r:
                    out[i][col.name] = _derive(kind, batch, out, i, col)
        order = {c.name: k for k, c in enumerate(schema.columns)}
        return [dict(sorted(r.items(), key=lambda kv: order.get(kv[0], len(order)))) for r in out]

    def row(self, table: str, given: Mapping[str, Any] | None = None, *, time: datetime, salt: str = "") -> dict:
        """One full row of `table`, with `given` values kept."""
        return self.complete(table, [dict(given or {})], times=[time], salt=salt)[0]

    def rows(self, table: str, n: int, *, start: datetime, end: datetime | None = None, salt: str = "") -> list[dict]:
        """n full rows, TimeGenerated spread evenly over [start, end]."""
        return self.complete(table, [{} for _ in range(n)], times=spread(start, end, n), salt=salt)

    def table(self, table: str, n: int, *, start: datetime, end: datetime | None = None, salt: str = "") -> pa.Table:
        """n full-schema rows as an Arrow table typed by the real schema (what the engines load)."""
        schema = self.schema(table)
        rows = self.rows(table, n, start=start, end=end, salt=salt)
        arrow = schema.arrow_schema()
        arrays = [pa.array([r[c.name] for r in rows], type=arrow.field(c.name).type) for c in schema.columns]
        return pa.Table.from_arrays(arrays, schema=arrow)

    @staticmethod
    def _naive(t: datetime) -> datetime:
        if t.tzinfo is None:
            return t
        from datetime import UTC

        return t.astimezone(UTC).replace(tzinfo=None)


def spread(start: datetime, end: datetime | None, n: int) -> list[datetime]:
    """n times from start to end inclusive, evenly spaced (all at start when end is None or n == 1)."""
    if n <= 0:
        return []
    if end is None or n == 1:
        return [start] * n
    step = (end - start) / (n - 1)
    return [start + step * i for i in range(n)]


def value_matches_type(value: Any, kusto_type: str) -> bool:
    """Whether a Python value is already of the form the filler gives a column of this Kusto type."""
    return value is None or _TYPE_OK[kusto_type](value)
