"""A DNS lookup as the resolver records it: DnsEvents (Windows DNS server) and ASimDnsActivityLogs (ASIM).

The client is the step's device (its IP in both tables, its host name in ASIM's SrcHostname);
the answer is the address the following connection goes to.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from synthetic.context import StepContext
from synthetic.entities import TENANT_ID
from synthetic.steps.common import DEFAULT_DNS_SERVER, Device, device, resolve

DNS_TABLES = ("DnsEvents", "ASimDnsActivityLogs")
_QTYPE = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "HTTPS": 65}
_RCODE = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def emit_dns(
    ctx: StepContext,
    when: datetime,
    dev: Device,
    name: str,
    answers: list[str],
    *,
    qtype: str = "A",
    rcode: int = 0,
    tables: tuple[str, ...] | list[str] = DNS_TABLES,
    server: dict[str, str] | None = None,
) -> None:
    """One query and its response, in each DNS table asked for."""
    server = server or DEFAULT_DNS_SERVER
    fake = ctx.fake
    for answer in answers:
        ipaddress.ip_address(answer)
    ok = rcode == 0
    if "DnsEvents" in tables:
        ctx.emit(
            "DnsEvents",
            {
                "TimeGenerated": when,
                "Type": "DnsEvents",
                "SourceSystem": "OpsManager",
                "Computer": server["name"],
                "EventId": 257 if ok else 258,
                "SubType": "LookupQuery",
                "ClientIP": dev.ip,
                "Name": name,
                "QueryType": qtype,
                "IPAddresses": ",".join(answers),
                "Result": "Success" if ok else "Failure",
                "ResultCode": rcode,
                "Message": "",
                "Description": "",
                "TaskCategory": "",
                "Confidence": "",
                "IndicatorThreatType": "",
                "MaliciousIP": "",
                "RemoteIPCountry": "",
                "Severity": 0,
                "_ResourceId": "",
                "_SubscriptionId": "",
            },
        )
    if "ASimDnsActivityLogs" in tables:
        ctx.emit(
            "ASimDnsActivityLogs",
            {
                "TenantId": TENANT_ID,
                "TimeGenerated": when,
                "EventStartTime": when,
                "EventEndTime": when,
                "Type": "ASimDnsActivityLogs",
                "EventCount": 1,
                "EventType": "Query",
                "EventSubType": "response",
                "EventResult": "Success" if ok else "Failure",
                "EventResultDetails": _RCODE.get(rcode, "NOERROR"),
                "EventOriginalType": "257" if ok else "258",
                "EventProduct": "DNS Server",
                "EventVendor": "Microsoft",
                "EventSchemaVersion": "0.1.7",
                "EventSeverity": "Informational",
                "Dvc": server["name"],
                "DvcHostname": server["name"].split(".", 1)[0],
                "DvcDomain": server["name"].split(".", 1)[-1],
                "DvcDomainType": "FQDN",
                "DvcIpAddr": server["ip"],
                "DvcFQDN": server["name"],
                "DvcOs": "Windows",
                "Src": dev.ip,
                "SrcIpAddr": dev.ip,
                "SrcPortNumber": fake.random_int(49152, 65535),
                "SrcHostname": dev.name,
                "SrcDvcId": dev.id,
                "SrcDvcIdType": "MDEid",
                "Dst": server["ip"],
                "DstIpAddr": server["ip"],
                "DstPortNumber": 53,
                "DnsQuery": name,
                "DnsQueryType": _QTYPE.get(qtype, 1),
                "DnsQueryTypeName": qtype,
                "DnsQueryClass": 1,
                "DnsQueryClassName": "IN",
                "DnsResponseCode": rcode,
                "DnsResponseName": ",".join(answers),
                "TransactionIdHex": f"{fake.random_int(0, 0xFFFF):04X}",
                "NetworkProtocol": "UDP",
                "DnsFlagsRecursionDesired": True,
                "DnsFlagsRecursionAvailable": True,
                "DnsFlagsAuthoritative": False,
                "DnsFlagsAuthenticated": False,
                "DnsFlagsTruncated": False,
                "DnsFlagsCheckingDisabled": False,
                "DnsFlagsZ": False,
                "DnsFlags": "RD RA",
                "AdditionalFields": {},
            },
        )


def dns_query(step: dict[str, Any], ctx: StepContext) -> None:
    """A lookup on its own (e.g. a query that fails, or one no connection follows), or a sweep of lookups
    (`names`, `spacing` apart: a tool that resolves a list of names, such as dnstwist's permutations)."""
    when = ctx.at(step.get("at"))
    dev = device(step, ctx)
    names = step.get("names") or [step["name"]]
    spacing = timedelta(seconds=float(step.get("spacing", 0.005)))
    rcode = int(step.get("rcode", 0))
    for index, raw in enumerate(names):
        name = str(ctx.fill(raw)).lower()
        answers = [ctx.fill(a) for a in step.get("answers", [])] or ([resolve(name)] if rcode == 0 else [])
        emit_dns(
            ctx,
            when + index * spacing,
            dev,
            name,
            answers,
            qtype=step.get("query_type", "A"),
            rcode=rcode,
            tables=step.get("tables") or DNS_TABLES,
            server=ctx.fill(step.get("server")),
        )
