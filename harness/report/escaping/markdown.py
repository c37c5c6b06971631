"""Markdown that quotes content as text, for a report posted as a pull-request comment.

Content must not become markup there: no raw HTML (`<svg onload=...>`, `<details>`), no images
or links (`![x](http://...)` would fetch a URL for everyone who opens the pull request), no
`@team` mentions (which notify people) and no table breakage from `|` or a newline. Two contexts:

- `text`: ordinary inline Markdown (list items, paragraphs, table cells). Every character that
  can open inline markup is backslash-escaped, `@` is followed by a zero-width space so it never
  mentions, and newlines become spaces;
- `code`: an inline code span, fenced with more backticks than the text holds; inside a table
  cell (`in_table=True`) a `|` is written `\\|`, which GitHub's table parser reads as a pipe.

Both show control characters as escapes first. The renderer adds the only markup.
"""

from __future__ import annotations

import re

from harness.report.escaping import visible

__all__ = ["code", "text"]

#: What can open markup inline: emphasis, code, links and images, raw HTML and entities, tables,
#: strikethrough, math. (Line-start markers such as `#` or `-` never start a quoted value.)
_PUNCTUATION = re.compile(r"([\\`*\[\]<>!|~&$])")
#: `_` opens emphasis only at a word boundary (GFM), so `IPFS_Gateway` stays as it is written.
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_NO_MENTION = "@\u200b"  # `@` then a zero-width space: GitHub links no `@name` that way
_BACKTICKS = re.compile(r"`+")


def _one_line(value: object) -> str:
    return visible(value, keep="\n\r").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def text(value: object) -> str:
    """Content as inline Markdown text: shown exactly, never interpreted."""
    escaped = _UNDERSCORE.sub(r"\\_", _PUNCTUATION.sub(r"\\\1", _one_line(value)))
    return escaped.replace("@", _NO_MENTION)


def code(value: object, *, in_table: bool = False) -> str:
    """Content as an inline code span (no Markdown, HTML or mention is read inside one)."""
    body = _one_line(value)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.endswith(" ") and body.strip()):
        body = f" {body} "
    if in_table:
        body = body.replace("|", "\\|")
    return f"{fence}{body or ' '}{fence}"
