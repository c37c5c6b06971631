"""Escaping for every report format, one module per format family.

Report text quotes content (file names, case ids, messages, `known_gap` reasons, query text,
values from result rows), and content is untrusted: it may hold markup, Markdown, control
characters or terminal escape sequences. Each format escapes what it quotes in one place:

- HTML: the Jinja2 environment in harness.report.html (autoescape on; JSON inside <script> by `tojson`);
- Markdown: harness.report.escaping.markdown;
- JUnit XML: harness.report.escaping.xml;
- the terminal: harness.report.escaping.terminal;
- JSON and SARIF: `json.dumps`, which escapes control characters itself.

`visible` is what they share: control and invisible formatting characters written as escapes.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["visible"]

#: C0 and C1 controls, DEL, and the invisible format characters (Cf: bidi overrides and isolates,
#: zero-width spaces and joiners, the BOM) that can make text read differently from what it is.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
                     r"\ufff9-\ufffb\U000e0000-\U000e007f]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def visible(text: object, *, keep: str = "") -> str:
    """`text` with every control or invisible character written as a Python-style escape
    (`\\x1b`, `\\n`, `\\u202e`), except the characters in `keep` (e.g. "\\n" where line breaks
    are allowed). Surrogates that cannot be encoded are escaped too."""
    text = str(text)
    out = _HIDDEN.sub(lambda m: m.group(0) if m.group(0) in keep else _escape(m), text)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in out):
        out = "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in out)
    return out


def is_hidden(ch: str) -> bool:
    """Whether `visible` escapes this character (for tests and callers that check)."""
    return bool(_HIDDEN.match(ch)) or unicodedata.category(ch) == "Cs"
