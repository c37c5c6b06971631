"""The seed rule's analysed weaknesses, shown on minimal rows next to the improved variant.

Expected values follow from KQL semantics: `has`/`has_any` match whole terms (maximal alphanumeric runs),
case-insensitively; the improved rule uses domain-suffix and substring matching instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from harness.backends.embedded import EmbeddedBackend
from harness.formats.detections import load_detection

PACK = Path(__file__).resolve().parent.parent / "detections" / "T1608.005"
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
WHEN = datetime(2025, 6, 1, 11)
MESSAGES = {
    # NetworkMessageId: (Url, DeliveryAction)
    "m-junk": ("https://bit.ly/AbC1234", "Junked"),
    "m-glued": ("https://contoso-sso.azurewebsites.net/Login123", "Delivered"),
    "m-lookalike": ("https://bit.ly.evil.com/XyZ9876", "Delivered"),
    "m-ipfs-blog": ("https://ipfs.io/blog/2025/update", "Delivered"),
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, dict]]:
    backend = EmbeddedBackend()
    ids = list(MESSAGES)
    backend.load(
        {
            "EmailUrlInfo": pa.table(
                {"TimeGenerated": [WHEN] * len(ids), "NetworkMessageId": ids, "Url": [MESSAGES[i][0] for i in ids]}
            ),
            "EmailEvents": pa.table(
                {
                    "TimeGenerated": [WHEN] * len(ids),
                    "NetworkMessageId": ids,
                    "SenderFromAddress": ["a@fabrikam.example"] * len(ids),
                    "SenderFromDomain": ["fabrikam.example"] * len(ids),
                    "RecipientEmailAddress": ["user@contoso.com"] * len(ids),
                    "DeliveryAction": [MESSAGES[i][1] for i in ids],
                }
            ),
        }
    )
    out = {}
    for key in ("link_target_email", "link_target_email_improved"):
        rows = backend.query(load_detection(PACK / f"{key}.yaml").query, now=NOW).records()
        by_url = {r["Url"]: r for r in rows}
        out[key] = {mid: by_url.get(url) for mid, (url, _) in MESSAGES.items()}
    backend.close()
    return out


def test_seed_drops_junked_mail(results) -> None:
    # DeliveryAction in ("Delivered", "DeliveredToJunk"): Defender writes "Junked", so the row is dropped
    assert results["link_target_email"]["m-junk"] is None
    assert results["link_target_email_improved"]["m-junk"]["DeliveryAction"] == "Junked"


def test_seed_misses_glued_credential_keyword(results) -> None:
    # "Login123" is one term, so has_any ("login", ...) is false; the improved substring regex sees "login"
    seed, improved = results["link_target_email"]["m-glued"], results["link_target_email_improved"]["m-glued"]
    assert (seed["CredentialHarvestIndicator"], seed["SuspicionScore"]) == (False, 1)
    assert (improved["CredentialHarvestIndicator"], improved["SuspicionScore"]) == (True, 2)


def test_seed_calls_a_lookalike_host_a_shortener(results) -> None:
    # "bit.ly" is a term of bit.ly.evil.com; by domain suffix the host is evil.com, with "bit.ly" two labels in
    assert results["link_target_email"]["m-lookalike"]["LinkCategory"] == "URLShortener"
    improved = results["link_target_email_improved"]["m-lookalike"]
    assert (improved["LinkCategory"], improved["SuspicionScore"]) == ("ServiceNameLookalike", 2)


def test_ipfs_project_pages_are_not_ipfs_content(results) -> None:
    # the seed lists ipfs.io as a gateway domain; the improved rule needs an /ipfs/ path on ipfs.io
    assert results["link_target_email"]["m-ipfs-blog"]["LinkCategory"] == "IPFS_Gateway"
    assert results["link_target_email_improved"]["m-ipfs-blog"] is None


def test_seed_query_is_unchanged() -> None:
    query = load_detection(PACK / "link_target_email.yaml").query
    assert '"DeliveredToJunk"' in query and "Url has_any (CredentialHarvestKeywords)" in query
