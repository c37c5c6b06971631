"""Benign background mail at volume, generated column-wise with numpy from Faker value pools.

One Faker call per row would be far too slow for a false-positive check over a million rows;
pools of realistic values sampled by index keep it fast and seed-deterministic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from synthetic.entities import TENANT_ID, make_faker, stable_seed

# Legitimate link hosts, with the share of shortener/PaaS/IPFS links the seed's
# false-positive list says real mail carries (newsletters, previews, Web3 projects).
BENIGN_HOSTS = [
    ("www.microsoft.com", 12),
    ("www.linkedin.com", 8),
    ("github.com", 6),
    ("docs.google.com", 5),
    ("contoso.sharepoint.com", 14),
    ("zoom.us", 5),
    ("www.salesforce.com", 3),
    ("www.bbc.co.uk", 3),
    ("news.ycombinator.com", 2),
    ("www.fabrikam.com", 6),
    ("support.apple.com", 2),
    ("aka.ms", 3),
    ("bit.ly", 2),
    ("ow.ly", 1),
    ("tinyurl.com", 1),  # newsletters and campaign tracking
    ("status-preview.netlify.app", 1),
    ("docs-preview.vercel.app", 1),
    ("contoso-wiki.azurewebsites.net", 1),
    ("ipfs.io", 1),
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
]


def background_email(
    seed: int, now: datetime, messages: int, window: timedelta = timedelta(hours=48)
) -> dict[str, pa.Table]:
    """`messages` benign inbound mails (EmailEvents, one row per recipient) with 1–3 URLs each."""
    rng = np.random.default_rng(stable_seed(seed, "background-email"))
    fake = make_faker(seed, "background-pools")
    senders = np.array([fake.company_email() for _ in range(400)])
    recipients = np.array([fake.org_user() for _ in range(300)])
    subjects = np.array([fake.catch_phrase() for _ in range(500)])
    ips = np.array([fake.public_ipv4() for _ in range(200)])
    hosts = np.array([h for h, _ in BENIGN_HOSTS])
    weights = np.array([w for _, w in BENIGN_HOSTS], dtype=float)
    weights /= weights.sum()
    paths = np.array(PATHS)

    n = messages
    base = np.datetime64(now.replace(tzinfo=None), "us")
    offsets = rng.integers(0, int(window.total_seconds() * 1e6), n).astype("timedelta64[us]")
    times = base - offsets
    ids = np.array(
        [
            f"{a:08x}-{b:04x}-4{c:03x}-a{d:03x}-{e:012x}"
            for a, b, c, d, e in zip(
                rng.integers(0, 2**32, n),
                rng.integers(0, 2**16, n),
                rng.integers(0, 2**12, n),
                rng.integers(0, 2**12, n),
                rng.integers(0, 2**48, n),
                strict=True,
            )
        ]
    )
    sender = senders[rng.integers(0, len(senders), n)]
    sender_domain = np.char.partition(sender.astype(str), "@")[:, 2]
    recipient = recipients[rng.integers(0, len(recipients), n)]
    action = rng.choice(np.array(["Delivered", "Junked", "Blocked", "Replaced"]), n, p=[0.9, 0.05, 0.04, 0.01])
    location = np.select([action == "Junked", action == "Blocked"], ["Junk", "Quarantine"], "Inbox/Folder")
    events = pa.table(
        {
            "TimeGenerated": pa.array(times),
            "TenantId": pa.array(np.full(n, TENANT_ID)),
            "Type": pa.array(np.full(n, "EmailEvents")),
            "NetworkMessageId": pa.array(ids),
            "InternetMessageId": pa.array(
                np.char.add(np.char.add("<", ids), np.char.add("@", np.char.add(sender_domain, ">")))
            ),
            "SenderFromAddress": pa.array(sender),
            "SenderFromDomain": pa.array(sender_domain),
            "SenderMailFromAddress": pa.array(sender),
            "SenderMailFromDomain": pa.array(sender_domain),
            "SenderIPv4": pa.array(ips[rng.integers(0, len(ips), n)]),
            "RecipientEmailAddress": pa.array(recipient),
            "Subject": pa.array(subjects[rng.integers(0, len(subjects), n)]),
            "EmailDirection": pa.array(np.full(n, "Inbound")),
            "DeliveryAction": pa.array(action),
            "DeliveryLocation": pa.array(location),
            "LatestDeliveryLocation": pa.array(location),
            "UrlCount": pa.array(rng.integers(1, 4, n).astype(np.int32)),
            "AttachmentCount": pa.array(np.zeros(n, dtype=np.int32)),
            "EmailLanguage": pa.array(np.full(n, "en")),
        }
    )
    url_counts = events.column("UrlCount").to_numpy()
    msg_index = np.repeat(np.arange(n), url_counts)
    m = len(msg_index)
    host = hosts[rng.choice(len(hosts), m, p=weights)]
    path = paths[rng.integers(0, len(paths), m)]
    token = np.char.mod("%06x", rng.integers(0, 2**24, m))
    url = np.char.add(np.char.add(np.char.add("https://", host), path), np.char.add("?ref=", token))
    urls = pa.table(
        {
            "TimeGenerated": pa.array(times[msg_index]),
            "TenantId": pa.array(np.full(m, TENANT_ID)),
            "Type": pa.array(np.full(m, "EmailUrlInfo")),
            "NetworkMessageId": pa.array(ids[msg_index]),
            "Url": pa.array(url),
            "UrlDomain": pa.array(host),
            "UrlLocation": pa.array(np.full(m, "Body")),
        }
    )
    return {"EmailEvents": events, "EmailUrlInfo": urls}
