"""Sentinel's entity types, their identifiers, and what makes an identifier value usable.

The identifier lists and required-identifier groups are Microsoft's, copied from the analytics
template validator of Azure/Azure-Sentinel (MIT licence):
.script/tests/detectionTemplateSchemaValidation/Models/EntityMappingIdentifiers.cs
(an entity mapping must map every identifier of at least one required group).

The value checks follow the entity schemas in
https://learn.microsoft.com/en-us/azure/sentinel/entities-reference (each check names the
sentence it relies on). Checks stop at what the reference states; an identifier the reference
leaves free (a display name, a command line) only has to be a non-empty string.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any


class EntityType(StrEnum):
    ACCOUNT = "Account"
    AZURE_RESOURCE = "AzureResource"
    CLOUD_APPLICATION = "CloudApplication"
    DNS = "DNS"
    FILE = "File"
    FILE_HASH = "FileHash"
    HOST = "Host"
    IOT_DEVICE = "IoTDevice"
    IP = "IP"
    MAILBOX = "Mailbox"
    MAIL_CLUSTER = "MailCluster"
    MAIL_MESSAGE = "MailMessage"
    MALWARE = "Malware"
    PROCESS = "Process"
    REGISTRY_KEY = "RegistryKey"
    REGISTRY_VALUE = "RegistryValue"
    SECURITY_GROUP = "SecurityGroup"
    SUBMISSION_MAIL = "SubmissionMail"
    URL = "URL"


#: (identifiers, required groups) per entity type; Azure/Azure-Sentinel EntityMappingIdentifiers.cs (MIT).
IDENTIFIERS: dict[EntityType, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    EntityType.ACCOUNT: (
        ("Name", "FullName", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId", "AadUserId", "PUID",
         "IsDomainJoined", "DisplayName", "ObjectGuid"),
        (("FullName",), ("Sid",), ("Name",), ("AadUserId",), ("PUID",), ("ObjectGuid",))),
    EntityType.AZURE_RESOURCE: (("ResourceId",), (("ResourceId",),)),
    EntityType.CLOUD_APPLICATION: (("AppId", "Name", "InstanceName"), (("AppId",), ("Name",))),
    EntityType.DNS: (("DomainName",), (("DomainName",),)),
    EntityType.FILE: (("Directory", "Name"), (("Name",),)),
    EntityType.FILE_HASH: (("Algorithm", "Value"), (("Algorithm", "Value"),)),
    EntityType.HOST: (
        ("DnsDomain", "NTDomain", "HostName", "FullName", "NetBiosName", "AzureID", "OMSAgentID", "OSFamily",
         "OSVersion", "IsDomainJoined"),
        (("FullName",), ("HostName",), ("NetBiosName",), ("AzureID",), ("OMSAgentID",))),
    EntityType.IOT_DEVICE: (
        ("DeviceId", "DeviceName", "Manufacturer", "Model", "FirmwareVersion", "OperatingSystem", "MacAddress",
         "Protocols", "SerialNumber", "Source", "IoTSecurityAgentId", "DeviceType"),
        (("DeviceId",),)),
    EntityType.IP: (("Address",), (("Address",),)),
    EntityType.MAILBOX: (
        ("MailboxPrimaryAddress", "DisplayName", "Upn", "ExternalDirectoryObjectId", "RiskLevel"),
        (("MailboxPrimaryAddress",),)),
    EntityType.MAIL_CLUSTER: (
        ("NetworkMessageIds", "CountByDeliveryStatus", "CountByThreatType", "CountByProtectionStatus", "Threats",
         "Query", "QueryTime", "MailCount", "IsVolumeAnomaly", "Source", "ClusterSourceIdentifier",
         "ClusterSourceType", "ClusterQueryStartTime", "ClusterQueryEndTime", "ClusterGroup"),
        (("Query",), ("Source",))),
    EntityType.MAIL_MESSAGE: (
        ("Recipient", "Urls", "Threats", "Sender", "P1Sender", "P1SenderDisplayName", "P1SenderDomain", "SenderIP",
         "P2Sender", "P2SenderDisplayName", "P2SenderDomain", "ReceivedDate", "NetworkMessageId",
         "InternetMessageId", "Subject", "BodyFingerprintBin1", "BodyFingerprintBin2", "BodyFingerprintBin3",
         "BodyFingerprintBin4", "BodyFingerprintBin5", "AntispamDirection", "DeliveryAction", "DeliveryLocation",
         "Language", "ThreatDetectionMethods"),
        (("NetworkMessageId",), ("Recipient",))),
    EntityType.MALWARE: (("Name", "Category"), (("Name",),)),
    EntityType.PROCESS: (("ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"),
                         (("CommandLine",), ("ProcessId",))),
    EntityType.REGISTRY_KEY: (("Hive", "Key"), (("Key",), ("Hive",))),
    EntityType.REGISTRY_VALUE: (("Name", "Value", "ValueType"), (("Name",),)),
    EntityType.SECURITY_GROUP: (("DistinguishedName", "SID", "ObjectGuid"),
                                (("DistinguishedName",), ("SID",), ("ObjectGuid",))),
    EntityType.SUBMISSION_MAIL: (
        ("NetworkMessageId", "Timestamp", "Recipient", "Sender", "SenderIp", "Subject", "ReportType",
         "SubmissionId", "SubmissionDate", "Submitter"),
        (("SubmissionId",), ("NetworkMessageId",), ("Recipient",), ("Submitter",))),
    EntityType.URL: (("Url",), (("Url",),)),
}

#: "You can define up to 10 entity mappings in a single analytics rule." / "You can define up to three
#: identifiers for a given entity mapping." / "Up to 500 entities collectively can be identified in a
#: single alert, divided equally across all entity mappings defined in the rule."
#: (https://learn.microsoft.com/en-us/azure/sentinel/map-data-fields-to-entities)
MAX_MAPPINGS = 10
MAX_IDENTIFIERS = 3
MAX_ENTITIES_PER_ALERT = 500

#: "If the Account entity is defined using the Name identifier, and the Name value of a particular entity
#: is one of the following generic, commonly built-in account names, then that entity will be dropped from
#: its alert." (entities-reference)
BUILTIN_ACCOUNT_NAMES = frozenset({
    "ADMIN", "ADMINISTRATOR", "SYSTEM", "ROOT", "ANONYMOUS", "AUTHENTICATED USER", "NETWORK", "NULL",
    "LOCAL SYSTEM", "LOCALSYSTEM", "NETWORK SERVICE",
})

#: Identifiers whose schema type is a list (entities-reference: IList<String>); a dynamic array is fine there.
LIST_IDENTIFIERS = frozenset({
    (EntityType.MAIL_CLUSTER, "NetworkMessageIds"), (EntityType.MAIL_CLUSTER, "Threats"),
    (EntityType.MAIL_MESSAGE, "Urls"), (EntityType.MAIL_MESSAGE, "Threats"), (EntityType.IOT_DEVICE, "Protocols"),
})

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_FQDN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+\.?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_SID = re.compile(r"^S-1-\d+(?:-\d+)*$", re.I)
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_HASH_LENGTHS = {"MD5": 32, "SHA1": 40, "SHA256": 64, "SHA256AC": 64}


def _guid(v: str) -> str | None:
    try:
        uuid.UUID(v)
    except ValueError:
        return "is not a GUID"
    return None


def _ip(v: str) -> str | None:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return "is not an IP address"
    return None


def _email(v: str) -> str | None:
    return None if _EMAIL.match(v) else "is not an address of the form name@domain"


def _upn_suffix(v: str) -> str | None:
    return None if _FQDN.match(v) else "is not a domain suffix such as contoso.com"


def _fqdn(v: str) -> str | None:
    return None if _FQDN.match(v) else "is not a fully qualified domain name"


def _hostname(v: str) -> str | None:
    return None if _HOSTNAME.match(v) else "is not a DNS name"


def _bare_host(v: str) -> str | None:
    # Host.HostName: "The hostname without the domain suffix."; NetBiosName: "The host name (pre-Windows 2000)."
    if "." in v:
        return "carries a domain suffix (HostName is the name without it; map the suffix to DnsDomain)"
    return _hostname(v)


def _account_name(v: str) -> str | None:
    # Account.Name: "This field should hold only the name without any domain added to it."
    if "@" in v or "\\" in v:
        return "carries a domain (Name holds only the name; map a UPN's suffix to UPNSuffix)"
    return None


def _sid(v: str) -> str | None:
    return None if _SID.match(v) else "is not a security identifier (S-1-...)"


def _azure_id(v: str) -> str | None:
    return None if v.lower().startswith("/subscriptions/") else "is not an Azure resource ID (/subscriptions/...)"


def _integer(v: str) -> str | None:
    return None if re.fullmatch(r"\d+", v) else "is not a whole number"


def _process_id(v: str) -> str | None:
    return None if re.fullmatch(r"\d+|0[xX][0-9A-Fa-f]+", v) else "is not a process ID"


def _url(v: str) -> str | None:
    # URL.Url: "A full URL the entity points to." (strong only when absolute; a relative URL is weak)
    return "contains whitespace" if re.search(r"\s", v) else None


def _file_name(v: str) -> str | None:
    # File.Name: "The file name without the path"
    return "carries a path (Name is the file name; map the path to Directory)" if re.search(r"[\\/]", v) else None


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in allowed else f"is not one of {', '.join(allowed)}"

    return check


def _datetime(v: str) -> str | None:
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return "is not a date and time"
    return None


_GUIDS = {
    (EntityType.ACCOUNT, n) for n in ("AadTenantId", "AadUserId", "PUID", "ObjectGuid")
} | {
    (EntityType.SECURITY_GROUP, "ObjectGuid"), (EntityType.MAIL_MESSAGE, "NetworkMessageId"),
    (EntityType.SUBMISSION_MAIL, "NetworkMessageId"), (EntityType.SUBMISSION_MAIL, "SubmissionId"),
    (EntityType.MAILBOX, "ExternalDirectoryObjectId"), (EntityType.IOT_DEVICE, "IoTSecurityAgentId"),
}

CHECKS: dict[tuple[EntityType, str], Callable[[str], str | None]] = {
    **{key: _guid for key in _GUIDS},
    (EntityType.IP, "Address"): _ip,
    (EntityType.MAIL_MESSAGE, "SenderIP"): _ip,
    (EntityType.SUBMISSION_MAIL, "SenderIp"): _ip,
    (EntityType.ACCOUNT, "Name"): _account_name,
    (EntityType.ACCOUNT, "UPNSuffix"): _upn_suffix,
    (EntityType.ACCOUNT, "DnsDomain"): _fqdn,
    (EntityType.ACCOUNT, "Sid"): _sid,
    (EntityType.SECURITY_GROUP, "SID"): _sid,
    (EntityType.HOST, "HostName"): _bare_host,
    (EntityType.HOST, "NetBiosName"): _bare_host,
    (EntityType.HOST, "DnsDomain"): _fqdn,
    (EntityType.HOST, "AzureID"): _azure_id,
    (EntityType.HOST, "OSFamily"): _one_of("Linux", "Windows", "Android", "IOS", "Mac"),
    (EntityType.AZURE_RESOURCE, "ResourceId"): _azure_id,
    (EntityType.CLOUD_APPLICATION, "AppId"): _integer,
    (EntityType.DNS, "DomainName"): _hostname,
    (EntityType.FILE, "Name"): _file_name,
    (EntityType.FILE_HASH, "Algorithm"): _one_of("Unknown", "MD5", "SHA1", "SHA256", "SHA256AC"),
    (EntityType.FILE_HASH, "Value"): lambda v: None if _HEX.match(v) else "is not a hexadecimal hash",
    (EntityType.PROCESS, "ProcessId"): _process_id,
    (EntityType.PROCESS, "CreationTimeUtc"): _datetime,
    (EntityType.PROCESS, "ElevationToken"): _one_of(
        "TokenElevationTypeDefault", "TokenElevationTypeFull", "TokenElevationTypeLimited"),
    (EntityType.MAILBOX, "MailboxPrimaryAddress"): _email,
    (EntityType.MAILBOX, "Upn"): _email,
    (EntityType.MAILBOX, "RiskLevel"): _one_of("None", "Low", "Medium", "High"),
    (EntityType.MAIL_MESSAGE, "Recipient"): _email,
    (EntityType.MAIL_MESSAGE, "Sender"): _email,
    (EntityType.SUBMISSION_MAIL, "Recipient"): _email,
    (EntityType.SUBMISSION_MAIL, "Sender"): _email,
    (EntityType.SUBMISSION_MAIL, "Submitter"): _email,
    (EntityType.REGISTRY_KEY, "Hive"): _one_of(
        "HKEY_LOCAL_MACHINE", "HKEY_CLASSES_ROOT", "HKEY_CURRENT_CONFIG", "HKEY_USERS",
        "HKEY_CURRENT_USER_LOCAL_SETTINGS", "HKEY_PERFORMANCE_DATA", "HKEY_PERFORMANCE_NLSTEXT",
        "HKEY_PERFORMANCE_TEXT", "HKEY_A", "HKEY_CURRENT_USER"),
    (EntityType.REGISTRY_VALUE, "ValueType"): _one_of(
        "String", "Binary", "DWord", "Qword", "MultiString", "ExpandString", "None", "Unknown"),
    (EntityType.URL, "Url"): _url,
}


def entity_type(name: str) -> EntityType | None:
    """The entity type a mapping names (Sentinel's spelling, case-sensitive), or None."""
    try:
        return EntityType(name)
    except ValueError:
        return None


def identifier_text(value: Any) -> str | None:
    """An identifier value as the text Sentinel would read, or None when it is empty."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text.strip() else None


def check_identifier(kind: EntityType, identifier: str, value: Any) -> str | None:
    """Why `value` cannot identify `kind` by `identifier` (None: it can). `value` is not empty."""
    if isinstance(value, (list, dict)):
        if (kind, identifier) in LIST_IDENTIFIERS and isinstance(value, list):
            return None
        return "is a dynamic value, not a single " + ("list" if (kind, identifier) in LIST_IDENTIFIERS else "value")
    text = identifier_text(value)
    if text is None:
        return "is empty"
    check = CHECKS.get((kind, identifier))
    return check(text) if check else None


def check_entity(kind: EntityType, identifiers: dict[str, str]) -> str | None:
    """Checks across identifiers of one entity (a hash's length must suit its algorithm)."""
    if kind is EntityType.FILE_HASH and "Algorithm" in identifiers and "Value" in identifiers:
        want = _HASH_LENGTHS.get(identifiers["Algorithm"])
        if want and len(identifiers["Value"]) != want:
            return f"a {identifiers['Algorithm']} hash has {want} hexadecimal digits, not {len(identifiers['Value'])}"
    return None
