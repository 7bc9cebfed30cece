"""The configuration's ``[scope]`` section: what the organisation owns, and the policy
sentence each out-of-scope category cites in triage hints and drafted replies.

    [scope]
    domains = ["m.io", "*.m.io"]     # empty: the mailbox's domain and its subdomains
    hint_threshold = 0.5             # hints below this confidence are not shown
    categories = ["dos", "spam", ...]  # the categories hinted (default: all ten)

    [scope.policy]
    best_practice = "Reports based solely on best practices, ..."

A policy sentence may hold ``{organization}``, which becomes ``[organization] name``.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from disclosure_inbox.domain.triage.model import CATEGORIES

# The defaults: the clauses of the policy each category comes from, as the policy words them.
DEFAULT_POLICY: dict[str, str] = {
    "dos": "Distributed Denial of Service (DoS/DDoS) attacks",
    "spam": "Spamming",
    "social_engineering": "Social engineering or phishing of {organization} employees or "
    "contractors",
    "physical": "Physical attacks against {organization} property, offices, or data centers",
    "third_party": "Issues related to systems, domains, or services not owned or operated by "
    "{organization}; vulnerabilities in third-party software, platforms, or services that "
    "{organization} uses but does not maintain or control",
    "best_practice": "Reports based solely on best practices, missing security headers, or "
    "other non-exploitable configurations",
    "scanner_unvalidated": "Findings from automated scans that are not manually validated for "
    "impact",
    "theoretical": "Theoretical attacks without a proven, practical security impact",
    "outdated_version": "Reports of outdated software versions without evidence of "
    "exploitation or material risk",
    "no_report": "Provide a clear and detailed report with enough information to help us "
    "reproduce and verify the issue",
}

_DOMAIN = re.compile(r"(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+")


class Scope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    domains: tuple[str, ...] = ()
    hint_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    categories: tuple[str, ...] = CATEGORIES
    policy: dict[str, str] = Field(default_factory=dict)

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for entry in value:
            item = entry.strip().lower().rstrip(".")
            if not _DOMAIN.fullmatch(item) and not _network(item):
                raise ValueError(
                    f'{entry!r} is not a domain ("m.io"), a wildcard ("*.m.io") or an IP network'
                )
            out.append(item)
        return tuple(out)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in CATEGORIES:
                raise ValueError(f"{name!r} is not one of {', '.join(CATEGORIES)}")
        return value

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: dict[str, str]) -> dict[str, str]:
        for name, sentence in value.items():
            if name not in CATEGORIES:
                raise ValueError(f"{name!r} is not one of {', '.join(CATEGORIES)}")
            if not sentence.strip():
                raise ValueError(f"{name}: the policy sentence is empty")
        return value

    def owned(self, mailbox_address: str) -> tuple[str, ...]:
        """The domains in scope: as configured, or the mailbox's domain and its subdomains."""
        if self.domains:
            return self.domains
        domain = mailbox_address.rpartition("@")[2].lower()
        return (domain, f"*.{domain}")

    def sentence(self, category: str, organization: str) -> str:
        """The policy sentence ``category`` cites, with the organisation's name put in."""
        text = self.policy.get(category) or DEFAULT_POLICY.get(category, "")
        return text.replace("{organization}", organization)


def _network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
