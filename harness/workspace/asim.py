"""The ASIM unifying parsers as stored functions over the ASim* tables.

Sentinel rules call `_Im_Dns(...)` and `_Im_WebSession(...)`, workspace functions that
union every source normalised to one ASIM schema. Here the only normalised source is the
ASim*Logs table, so each parser is that table filtered by its documented filtering
parameters, plus the documented alias columns (`Domain`, `IpAddr`, `User`, ...), which
rules read as often as the real ones.

Sources (parameters and aliases):
- DNS: https://learn.microsoft.com/azure/sentinel/normalization-schema-dns
  ("Filtering parameters": starttime, endtime, srcipaddr, domain_has_any,
  responsecodename, response_has_ipv4, response_has_any_prefix, eventtype)
- Web session: https://learn.microsoft.com/azure/sentinel/normalization-schema-web
  ("Filtering parameters": starttime, endtime, srcipaddr_has_any_prefix,
  ipaddr_has_any_prefix, url_has_any, httpuseragent_has_any, eventresultdetails_in,
  eventresult)
- Network session: https://learn.microsoft.com/azure/sentinel/normalization-schema-network
  (starttime, endtime, srcipaddr_has_any_prefix, dstipaddr_has_any_prefix,
  ipaddr_has_any_prefix, dstportnumber, hostname_has_any, dvcaction, eventresult)
- File event: https://learn.microsoft.com/azure/sentinel/normalization-schema-file-event
  (`imFileEvent`, the parameterless unifying parser, with its documented aliases)

Parameters these parsers declare but do not apply are listed in `UNHONOURED` (the
`*_has_any_prefix` IP filters: ASIM's own parsers use `has_any_ipv4_prefix`, which duckdb-kql
does not map; `hostname_has_any` of the network session parser; `pack`). A call that passes one
of them a value other than its default is refused (harness.kql.desugar), never run as if the
filter had been applied.

Named arguments (`_Im_Dns(starttime=...)`) are how the corpus calls them; duckdb-kql 1.1.2
refuses named arguments, so the embedded engine runs them positionally (harness.kql.desugar's
`named arguments`, with the declared defaults written out).
"""

from __future__ import annotations

IM_DNS = """.create-or-alter function _Im_Dns(
    starttime:datetime=datetime(null), endtime:datetime=datetime(null),
    srcipaddr:string='*', domain_has_any:dynamic=dynamic([]),
    responsecodename:string='*', response_has_ipv4:string='*',
    response_has_any_prefix:dynamic=dynamic([]), eventtype:string='Query',
    pack:bool=false)
{
    ASimDnsActivityLogs
    | where isnull(starttime) or TimeGenerated >= starttime
    | where isnull(endtime) or TimeGenerated <= endtime
    | where srcipaddr == '*' or SrcIpAddr == srcipaddr
    | where array_length(domain_has_any) == 0 or DnsQuery has_any (domain_has_any)
    | where eventtype == '*' or EventType == eventtype
    | where response_has_ipv4 == '*' or DnsResponseName has response_has_ipv4
    | extend DnsResponseCodeName = case(
        DnsResponseCode == 0, 'NOERROR', DnsResponseCode == 1, 'FORMERR',
        DnsResponseCode == 2, 'SERVFAIL', DnsResponseCode == 3, 'NXDOMAIN',
        DnsResponseCode == 4, 'NOTIMP', DnsResponseCode == 5, 'REFUSED', '')
    | where responsecodename == '*' or DnsResponseCodeName == responsecodename
    | extend Domain = DnsQuery, IpAddr = SrcIpAddr, User = SrcUsername,
             Hostname = SrcHostname, SessionId = DnsSessionId,
             Duration = DnsNetworkDuration, Rule = RuleName,
             ResponseName = DnsResponseName
}"""

IM_WEBSESSION = """.create-or-alter function _Im_WebSession(
    starttime:datetime=datetime(null), endtime:datetime=datetime(null),
    srcipaddr_has_any_prefix:dynamic=dynamic([]), ipaddr_has_any_prefix:dynamic=dynamic([]),
    url_has_any:dynamic=dynamic([]), httpuseragent_has_any:dynamic=dynamic([]),
    eventresultdetails_in:dynamic=dynamic([]), eventresult:string='*',
    pack:bool=false)
{
    ASimWebSessionLogs
    | where isnull(starttime) or TimeGenerated >= starttime
    | where isnull(endtime) or TimeGenerated <= endtime
    | where array_length(url_has_any) == 0 or Url has_any (url_has_any)
    | where array_length(httpuseragent_has_any) == 0 or HttpUserAgent has_any (httpuseragent_has_any)
    | where array_length(eventresultdetails_in) == 0 or EventResultDetails in (eventresultdetails_in)
    | where eventresult == '*' or EventResult == eventresult
    | extend IpAddr = SrcIpAddr, User = SrcUsername, Hostname = DstHostname,
             UserAgent = HttpUserAgent, HttpStatusCode = EventResultDetails,
             SessionId = NetworkSessionId, Duration = NetworkDuration,
             Src = SrcIpAddr, Dst = DstIpAddr
}"""

IM_NETWORKSESSION = """.create-or-alter function _Im_NetworkSession(
    starttime:datetime=datetime(null), endtime:datetime=datetime(null),
    srcipaddr_has_any_prefix:dynamic=dynamic([]), dstipaddr_has_any_prefix:dynamic=dynamic([]),
    ipaddr_has_any_prefix:dynamic=dynamic([]), dstportnumber:int=int(null),
    hostname_has_any:dynamic=dynamic([]), dvcaction:dynamic=dynamic([]),
    eventresult:string='*', pack:bool=false)
{
    ASimNetworkSessionLogs
    | where isnull(starttime) or TimeGenerated >= starttime
    | where isnull(endtime) or TimeGenerated <= endtime
    | where isnull(dstportnumber) or DstPortNumber == dstportnumber
    | where array_length(dvcaction) == 0 or DvcAction in (dvcaction)
    | where eventresult == '*' or EventResult == eventresult
    | extend IpAddr = SrcIpAddr, Src = SrcIpAddr, Dst = DstIpAddr, User = DstUsername,
             Hostname = DstHostname, SessionId = NetworkSessionId,
             Duration = EventEndTime - EventStartTime, Rule = NetworkRuleName
}"""

IM_FILEEVENT = """.create-or-alter function imFileEvent()
{
    ASimFileEventLogs
    | extend User = ActorUsername, Process = ActingProcessName, FileName = TargetFileName,
             FilePath = TargetFilePath, Src = SrcIpAddr, IpAddr = SrcIpAddr,
             Url = TargetUrl, Application = TargetAppName, Dvc = DvcHostname
}"""

#: Parameters each parser declares but does not apply: a call giving one a non-default value is refused.
UNHONOURED: dict[str, frozenset[str]] = {
    "_Im_Dns": frozenset({"response_has_any_prefix", "pack"}),
    "_Im_WebSession": frozenset({"srcipaddr_has_any_prefix", "ipaddr_has_any_prefix", "pack"}),
    "_Im_NetworkSession": frozenset(
        {"srcipaddr_has_any_prefix", "dstipaddr_has_any_prefix", "ipaddr_has_any_prefix", "hostname_has_any", "pack"}
    ),
}

#: Stored function definitions, in duckdb-kql's `functions=` form.
ASIM_FUNCTIONS: list[str] = [IM_DNS, IM_WEBSESSION, IM_NETWORKSESSION, IM_FILEEVENT]


def asim_functions() -> list[str]:
    """A fresh list of the ASIM parser definitions (callers may extend it)."""
    return list(ASIM_FUNCTIONS)
