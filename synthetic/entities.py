"""Faker, seeded per case, with the identifiers Microsoft's tables really carry.

Each case gets its own generator seeded from (run seed, case id), so adding a case never
changes another case's rows.
"""

from __future__ import annotations

import difflib
import hashlib
import string
import uuid
from typing import Any

from faker import Faker
from faker.providers import BaseProvider

TENANT_ID = "4b2462a4-bbee-495a-a0e1-f23ae524cc9c"  # one synthetic tenant for every row
ORG_DOMAIN = "contoso.com"

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B62 = string.ascii_letters + string.digits


def stable_seed(*parts: object) -> int:
    """A seed that is the same on every machine and Python run (hash() is salted)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class SecurityTelemetryProvider(BaseProvider):
    """Values shaped like the real ones: CIDv1, bit.ly codes, MDO message ids, device ids."""

    def guid(self) -> str:
        return str(uuid.UUID(int=self.generator.random.getrandbits(128), version=4))

    def ipfs_cid(self) -> str:
        # CIDv1 base32 (dag-pb, sha2-256) as Pinata returns for pinFileToIPFS with cidVersion 1
        return "bafybei" + "".join(self.generator.random.choice(_B32) for _ in range(52))

    def bitly_code(self) -> str:
        return "".join(self.generator.random.choice(_B62) for _ in range(7))

    def device_id(self) -> str:
        return f"{self.generator.random.getrandbits(160):040x}"

    def report_id(self) -> str:
        return self.guid()

    def public_ipv4(self) -> str:
        return self.generator.ipv4_public()

    def org_user(self) -> str:
        first = self.generator.first_name().lower()
        last = self.generator.last_name().lower().replace(" ", "").replace("'", "")
        return f"{first}.{last}@{ORG_DOMAIN}"

    def lab_ipv4(self) -> str:
        """A private address in 172.16.0.0/12: the background never uses this range, so a case's
        hosts stay distinguishable from benign traffic (background uses 10/8 and 192.168/16)."""
        r = self.generator.random
        return f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(2, 254)}"

    def case_hostname(self, prefix: str = "ws") -> str:
        """A case-unique host name (`purple-`: never used by the background host pools)."""
        return f"purple-{prefix}-{self.generator.random.getrandbits(24):06x}"

    def subscription_id(self) -> str:
        return self.guid()

    def lookalike_word(self) -> str:
        return self.generator.random.choice(["secure", "verify", "account", "portal", "auth", "sso", "login"])


def make_faker(*seed_parts: object) -> Faker:
    fake = Faker("en_US")
    fake.add_provider(SecurityTelemetryProvider)
    fake.seed_instance(stable_seed(*seed_parts))
    _share_network_cache(fake)
    return fake


#: Faker's internet provider works out the IPv4 networks it draws from (public, private, all; per address class)
#: on first use and keeps them on the instance: ~1 ms per `ipv4_public()` on a fresh Faker, and every case and
#: filler pool has a Faker of its own. The networks are a pure function of nothing (no draw), so one process
#: works them out once and hands them to every new instance: the same draws, the same values.
_NETWORKS: dict[str, Any] = {}


def _share_network_cache(fake: Faker) -> None:
    provider = next((p for p in fake.get_providers() if hasattr(p, "_get_public_networks_and_weights")), None)
    if provider is None:
        return
    if not _NETWORKS:
        for address_class in "abc":  # a valid class: no draw from the instance's random
            provider._get_public_networks_and_weights(address_class)
            provider._get_private_networks_and_weights(address_class)
            provider._get_all_networks_and_weights(address_class)
        _NETWORKS.update({k: v for k, v in vars(provider).items() if k.startswith("_cached_")})
    else:
        for name, value in _NETWORKS.items():
            setattr(provider, name, value)


def fake_value(fake: Faker, spec: dict[str, Any]) -> Any:
    """`{fake: provider, args...}` -> one value from the seeded Faker."""
    name = spec["fake"]
    kwargs = {k: v for k, v in spec.items() if k != "fake"}
    known = isinstance(name, str) and not name.startswith("_") and name not in _NOT_PROVIDERS
    provider = getattr(fake, name, None) if known else None
    if provider is None or not callable(provider):
        close = difflib.get_close_matches(str(name), provider_names(fake), n=6, cutoff=0.5)
        hint = f"; close: {', '.join(close)}" if close else ""
        raise ValueError(f"unknown Faker provider {name!r}{hint}")
    try:
        return provider(**kwargs)
    except TypeError as exc:
        raise ValueError(f"Faker provider {name!r}: {exc}") from None


# Generator methods that are not value providers (seeding, provider management).
_NOT_PROVIDERS = frozenset({"add_provider", "get_providers", "provider", "seed", "seed_instance", "set_arguments",
                            "get_arguments", "del_arguments", "set_formatter", "format", "get_formatter", "parse",
                            "random", "seed_locale", "items", "factories", "locales", "weights", "optional", "unique"})


def provider_names(fake: Faker) -> list[str]:
    """The value providers a seeded Faker offers (Faker's and this project's)."""
    generator = fake.factories[0]
    return sorted(n for n in dir(generator) if not n.startswith("_") and n not in _NOT_PROVIDERS
                  and callable(getattr(generator, n, None)))
