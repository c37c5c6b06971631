"""Bounds on what one content file may ask for, so a template cannot exhaust memory or time.

Shared by the steps and loaders that expand content (the `rows` step's `count`, recorded files).
"""

from __future__ import annotations

MAX_ROWS_PER_STEP = 10_000  # rows one template step may emit (rows x count)
