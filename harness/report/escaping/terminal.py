"""Text for a terminal: content never reaches it raw.

A name or message holding ESC could recolour, move the cursor, retitle the window or hide
text; a newline could forge a line of the matrix. Every content string printed to a terminal
goes through `safe` (with or without colour); the harness's own colour codes are added after.
"""

from __future__ import annotations

from harness.report.escaping import visible

__all__ = ["safe", "safe_lines"]


def safe(text: object) -> str:
    """One line of terminal text: control characters (ESC, newlines, ...) shown as escapes."""
    return visible(text)


def safe_lines(text: object) -> str:
    """Several lines of terminal text: each line made `safe`, the harness's line breaks kept."""
    return "\n".join(safe(line) for line in str(text).split("\n"))
