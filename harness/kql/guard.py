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

Both read Microsoft's analyzer (Kusto.Language, through harness.kql.analyzer), not raw text: its
statement kinds, the functions and plugins it binds and the syntax it finds, so a dot or a `set`
inside a string or a comment is not a statement, and a comment above a command does not hide it.
`refuse_query` first applies the bounds on query text (harness.kql.limits: size, nesting), so an
oversized or too deeply nested query is refused before anything reads it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from harness.kql.analyzer import Workspace, analyze
from harness.kql.limits import check_query
from harness.kql.model import FunctionKind, Span, StatementKind
from harness.workspace.context import WorkspaceContext

__all__ = ["Refusal", "refuse_non_query", "refuse_query", "refuse_remote"]


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

#: Plugins that run code on the cluster (in its sandbox): `evaluate python(...)`, `evaluate r(...)`.
CODE_PLUGINS = frozenset({"python", "r"})

_COMMAND = re.compile(r"\.[A-Za-z_]+(?:-[A-Za-z_]+)*")
_SET = re.compile(r"set\s+([A-Za-z_][\w.]*)", re.I)
_WORDS = re.compile(r"[A-Za-z_]+")

Context = WorkspaceContext | Workspace | None


def _blank(ch: str) -> bool:
    """Whitespace, and invisible format characters (BOM, zero-width space) a reader cannot see."""
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def refuse_query(text: str, *, remote: bool = False, context: Context = None) -> Refusal | None:
    """Everything the harness refuses in a detection's text before an engine sees it: a text past the
    size or nesting bounds (raised as `QueryLimitExceeded`, as is an analysis past its time or memory;
    an analyzer failure is `AnalyzerFailure`), a statement that is not a query, and with
    `remote` (the REST backends) a reach beyond the loaded database. Validation and every engine call
    this one function, so they refuse alike. *context*: the workspace to analyse against (statement
    kinds do not depend on it; passing the caller's shares its cached analysis)."""
    check_query(text)
    return refuse_non_query(text, context) or (refuse_remote(text, context) if remote else None)


def refuse_non_query(text: str, context: Context = None) -> Refusal | None:
    """The first statement of `text` that is not a query (control command, `set`, `alias`,
    `restrict`, a client `#` directive), or None when every statement is one.

    `let`, `declare query_parameters`, `declare pattern` and tabular statements are queries.
    """
    start = 0
    while True:  # a client directive (`#connect ...`) leads the text, before any statement
        while start < len(text) and _blank(text[start]):
            start += 1
        if not text.startswith("//", start):
            break
        end = text.find("\n", start)
        start = len(text) if end < 0 else end + 1
    if text.startswith("#", start):
        word = _WORDS.match(text, start + 1)
        return Refusal("#" + (word.group() if word else ""), *_position(text, start),
                       "client directives are not queries; a detection may only query the database")
    analysis = analyze(text, context)
    for st in analysis.statements:
        body = st.span.text(text)
        line, column = st.span.line, st.span.column
        if st.kind == StatementKind.COMMAND:
            m = _COMMAND.match(body)
            return Refusal(m.group() if m else ". (control command)", line, column,
                           "control commands administer or write the database; a detection may only query it")
        if st.kind == StatementKind.SET:
            m = _SET.match(body)
            return Refusal(f"set {m.group(1)}" if m else "set", line, column,
                           "a `set` statement changes request options (the harness pins the clock itself)")
        if st.kind == StatementKind.ALIAS:
            return Refusal("alias database", line, column,
                           "it points a name at another cluster or database; a detection reads only its own")
        if st.kind == StatementKind.RESTRICT:
            return Refusal("restrict access", line, column, "it is a request option, not part of a detection")
        if st.kind == StatementKind.OTHER and body.startswith("#"):
            word = _WORDS.match(body, 1)
            return Refusal("#" + (word.group() if word else ""), line, column,
                           "client directives are not queries; a detection may only query the database")
    if analysis.has_command:  # a command the statements do not show (inside a function body, ...)
        return Refusal(". (control command)", 1, 1,
                       "control commands administer or write the database; a detection may only query it")
    return None


def refuse_remote(text: str, context: Context = None) -> Refusal | None:
    """The first construct that reaches beyond the loaded database (`cluster()`, `database()`,
    `external_table()`, `externaldata`, callout and code plugins), or None."""
    analysis = analyze(text, context)
    found: list[tuple[Span, str, str]] = []
    for call in analysis.functions:
        if call.via is not None:
            continue
        name = call.name.lower()
        if name in REMOTE_FUNCTIONS and call.kind == FunctionKind.BUILTIN:
            found.append((call.span, f"{call.name}()", REMOTE_FUNCTIONS[name]))
        elif call.kind == FunctionKind.PLUGIN and name in CALLOUT_PLUGINS:
            found.append((call.span, f"evaluate {call.name}",
                          "a callout plugin makes the cluster call another service; a detection only reads its data"))
        elif call.kind == FunctionKind.PLUGIN and name in CODE_PLUGINS:
            found.append((call.span, f"evaluate {call.name}",
                          "it runs code on the cluster; a detection only queries its data"))
    if "ExternalDataExpression" in analysis.syntax:
        tree = analyze(text, context, tree=True).tree or ()
        for node in tree:
            if node.type == "ExternalDataExpression":
                word = _WORDS.match(node.span.text(text))
                found.append((node.span, word.group() if word else "externaldata",
                              "it makes the cluster fetch a URL; a detection reads only the tables the harness loaded"))
    if not found:
        return None
    span, construct, reason = min(found, key=lambda f: f[0].start)
    return Refusal(construct, span.line, span.column, reason)
