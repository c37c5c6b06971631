"""What a detection's text may be: queries only, nothing that administers, writes or reaches out.

Detections come from contributors' pull requests, so their text is untrusted. A KQL request can
be more than a query: a control command (`.create database`, `.attach`, `.set-or-replace`,
`.show`, ...) administers or writes the database, a `set` statement changes request options
(`set query_now` would override the pinned clock), `alias database` points a name at another
cluster. None of that is a detection. `refuse_non_query` finds the first such statement, with
its position, so validation and every engine refuse it the same way, before anything runs.

On a real cluster a query can also read beyond the scratch database it was given
(`cluster()`, `database()`), make the cluster fetch a URL or call another service
(`externaldata`, `external_table()`, callout plugins such as `evaluate http_request`) or run
code there (`evaluate python`, `evaluate r`): `refuse_remote` finds those, for the REST
backends. `refuse_query` is the one entry point the engines and validation call (it is also
where the query size and depth limits will hook in).

Both read tokens, not raw text: strings (`"..."`, `'...'`, `@"..."` verbatim, `h"..."`,
```` ```...``` ```` and `~~~...~~~` multi-line) and `//` comments are skipped whole, so a
dot or a `set` inside a string or a comment is not a statement, and a comment above a
command does not hide it. Part 2 (issue 12): Microsoft's analyzer (Kusto.Language, through
harness.kql's facade) will name statement kinds; until then this tokenizer is the source.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Refusal", "refuse_non_query", "refuse_query", "refuse_remote", "tokens"]


@dataclass(frozen=True)
class Refusal:
    """One construct a detection may not use: what it is, where (1-based), and why."""

    construct: str
    line: int
    column: int
    reason: str

    @property
    def message(self) -> str:
        return f"`{self.construct}` is refused: {self.reason}"


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "punct", "string", "number"
    text: str
    offset: int


#: Callout plugins: `evaluate <name>(...)` makes the cluster call a URL, a database or a model.
CALLOUT_PLUGINS = frozenset({
    "http_request", "http_request_post", "sql_request", "mysql_request", "postgresql_request",
    "cosmosdb_sql_request", "azure_digital_twins_query_request", "ai_chat_completion",
    "ai_chat_completion_prompt", "ai_embed_text", "ai_embeddings",
})  # fmt: skip

#: Functions that name a scope beyond the database the harness gave the query.
REMOTE_FUNCTIONS = {
    "cluster": "reads another cluster; a detection runs only on the database the harness loaded",
    "database": "reads another database; a detection runs only on the database the harness loaded",
    "external_table": "reads external storage; a detection reads only the tables the harness loaded",
}

_EXTERNALDATA = ("externaldata", "external_data")

#: Plugins that run code on the cluster (in its sandbox): `evaluate python(...)`, `evaluate r(...)`.
CODE_PLUGINS = frozenset({"python", "r"})


def _blank(ch: str) -> bool:
    """Whitespace, and invisible format characters (BOM, zero-width space) a reader cannot see."""
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def tokens(text: str) -> Iterator[Token]:
    """KQL tokens with their offsets; strings and comments are consumed whole, comments dropped.

    An unterminated string runs to the end of the text (the engine reports the syntax error)."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if _blank(ch):
            i += 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        start = i
        # Multi-line string literals.
        if text.startswith("```", i) or text.startswith("~~~", i):
            fence = text[i : i + 3]
            end = text.find(fence, i + 3)
            i = n if end < 0 else end + 3
            yield Token("string", text[start:i], start)
            continue
        # Obfuscated (h"...") and verbatim (@"...") prefixes, in either order a lexer accepts.
        j = i
        if text[j] in "hH" and j + 1 < n and text[j + 1] in "\"'@":
            j += 1
        verbatim = False
        if j < n and text[j] == "@" and j + 1 < n and text[j + 1] in "\"'":
            verbatim, j = True, j + 1
        if j < n and text[j] in "\"'" and (j > i or ch in "\"'"):
            i = _string_end(text, j, verbatim)
            yield Token("string", text[start:i], start)
            continue
        if ch.isalpha() or ch == "_" or ch == "$":
            while i < n and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            yield Token("word", text[start:i], start)
            continue
        if ch.isdigit():
            while i < n and (text[i].isalnum() or text[i] in "._"):
                i += 1
            yield Token("number", text[start:i], start)
            continue
        i += 1
        yield Token("punct", ch, start)


def _string_end(text: str, quote_at: int, verbatim: bool) -> int:
    """The offset just past the string whose opening quote is at `quote_at`."""
    quote, i, n = text[quote_at], quote_at + 1, len(text)
    while i < n:
        ch = text[i]
        if verbatim:
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:  # "" inside @"..." is one quote
                    i += 2
                    continue
                return i + 1
        elif ch == "\\":
            i += 2
            continue
        elif ch == quote:
            return i + 1
        elif ch == "\n":  # a plain string cannot span lines; the engine will say so
            return i
        i += 1
    return n


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _command_name(text: str, toks: list[Token], index: int) -> str:
    """`.set-or-replace`, `.create`: the dot and the words glued to it by `-`."""
    name = "."
    expect_word = True
    end = toks[index].offset + 1
    for tok in toks[index + 1 :]:
        if tok.offset != end:
            break
        if expect_word and tok.kind == "word":
            name += tok.text
        elif not expect_word and tok.text == "-":
            name += "-"
        else:
            break
        expect_word = not expect_word
        end = tok.offset + len(tok.text)
    return name.rstrip("-") if name != "." else ". (control command)"


def refuse_query(text: str, *, remote: bool = False) -> Refusal | None:
    """Everything the harness refuses in a detection's text before an engine sees it: a statement
    that is not a query, and with `remote` (the REST backends) a reach beyond the loaded database.
    Validation and every engine call this one function, so they refuse alike."""
    # HOOK (issue 12, the Kusto.Language facade): query size and nesting-depth limits are built in
    # harness/kql/limits.py by that work; once it lands, call its check here, first, so validate and
    # every engine apply the one limit with its clear error. Not on main when this was written.
    return refuse_non_query(text) or (refuse_remote(text) if remote else None)


def refuse_non_query(text: str) -> Refusal | None:
    """The first statement of `text` that is not a query (control command, `set`, `alias`,
    `restrict`, a client `#` directive), or None when every statement is one.

    `let`, `declare query_parameters`, `declare pattern` and tabular statements are queries.
    """
    toks = list(tokens(text))
    at_start = True
    for index, tok in enumerate(toks):
        if tok.text == ";" and tok.kind == "punct":
            at_start = True
            continue
        if not at_start:
            continue
        at_start = False
        after = toks[index + 1] if index + 1 < len(toks) else None
        line, column = _position(text, tok.offset)
        if tok.kind == "punct" and tok.text == ".":
            name = _command_name(text, toks, index)
            return Refusal(name, line, column,
                           "control commands administer or write the database; a detection may only query it")
        if tok.kind == "punct" and tok.text == "#":
            return Refusal("#" + (after.text if after else ""), line, column,
                           "client directives are not queries; a detection may only query the database")
        word = tok.text.lower() if tok.kind == "word" else ""
        if word == "set" and (after is None or after.kind == "word" or after.text == ";"):
            option = f"set {after.text}" if after is not None and after.kind == "word" else "set"
            return Refusal(option, line, column,
                           "a `set` statement changes request options (the harness pins the clock itself)")
        if word == "alias" and after is not None and after.kind == "word" and after.text.lower() == "database":
            return Refusal("alias database", line, column,
                           "it points a name at another cluster or database; a detection reads only its own")
        if word == "restrict" and after is not None and after.kind == "word" and after.text.lower() == "access":
            return Refusal("restrict access", line, column, "it is a request option, not part of a detection")
    return None


def refuse_remote(text: str) -> Refusal | None:
    """The first construct that reaches beyond the loaded database (`cluster()`, `database()`,
    `external_table()`, `externaldata`, callout and code plugins), or None."""
    toks = list(tokens(text))
    for index, tok in enumerate(toks):
        if tok.kind != "word":
            continue
        after = toks[index + 1] if index + 1 < len(toks) else None
        word = tok.text.lower()
        called = after is not None and after.text == "("
        line, column = _position(text, tok.offset)
        if word in REMOTE_FUNCTIONS and called:
            return Refusal(f"{tok.text}()", line, column, REMOTE_FUNCTIONS[word])
        if word in _EXTERNALDATA and (called or (after is not None and after.text == "[")):
            return Refusal(tok.text, line, column,
                           "it makes the cluster fetch a URL; a detection reads only the tables the harness loaded")
        if word in CALLOUT_PLUGINS and called:  # `evaluate [hints] http_request(...)`
            return Refusal(f"evaluate {tok.text}", line, column,
                           "a callout plugin makes the cluster call another service; a detection only reads its data")
        if word in CODE_PLUGINS and called and _evaluated(toks, index):
            return Refusal(f"evaluate {tok.text}", line, column,
                           "it runs code on the cluster; a detection only queries its data")
    return None


def _evaluated(toks: list[Token], index: int) -> bool:
    """Whether the plugin name at `index` follows `evaluate` (past any `hint.name = value`)."""
    j = index - 1
    while j >= 4 and toks[j - 1].text == "=" and toks[j - 3].text == "." and toks[j - 4].text.lower() == "hint":
        j -= 5
    return j >= 0 and toks[j].text.lower() == "evaluate"
