"""Which hosts a report names are the organisation's: ``[scope] domains`` applied.

Worked example: with the scope ``("m.io", "*.m.io", "203.0.113.0/24")``, a report naming
api.m.io, www.example.pl, 203.0.113.7 and 198.51.100.1 has ``api.m.io`` and ``203.0.113.7``
in scope, ``www.example.pl`` and ``198.51.100.1`` out of it. "m.io" alone would not cover
api.m.io, nor "*.m.io" m.io itself: each is said when meant.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from disclosure_inbox.domain.triage.indicators import host_of, ip_of
from disclosure_inbox.domain.triage.model import Indicators


def _scope_ip(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def host_in_scope(host: str, domains: Sequence[str]) -> bool:
    """Whether ``host`` falls under one of the scope entries ``domains``.

    "m.io" covers exactly m.io; "*.m.io" covers every name below it (api.m.io, a.b.m.io)
    but not m.io itself. Case and a trailing dot do not matter. An IP address is covered
    only by an entry naming it or a network holding it ("203.0.113.0/24"), never by a name.
    """
    host = host_of(host)
    if not host:
        return False
    ip = ip_of(host)
    for raw in domains:
        entry = host_of(raw)
        if ip is not None:
            network = _scope_ip(entry)
            if network is not None and ipaddress.ip_address(ip) in network:
                return True
        elif entry.startswith("*."):
            if host.endswith(entry[1:]):  # ".m.io": a subdomain, never m.io itself
                return True
        elif entry and host == entry:
            return True
    return False


def split_scope(
    indicators: Indicators, domains: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The hosts and then the IP addresses a report names, split into those in scope and
    those out of it, each in order. E-mail domains are left out: a reporter's own address
    is not a target."""
    inside: list[str] = []
    outside: list[str] = []
    for host in indicators.hosts + indicators.ips:
        (inside if host_in_scope(host, domains) else outside).append(host)
    return tuple(inside), tuple(outside)
