"""Bounds on what content may ask of the harness, in one place so every loader and step uses the same.

Content (detections, templates, recorded exports) comes from contributors' pull requests: a file
must not be able to make the harness parse, expand or generate without end. Each bound is far
above what a real rule or scenario needs, and crossing one is an error naming the file. Shared by
the loaders (YAML) and the steps that expand content (the `rows` step's `count`, recorded files).
"""

from __future__ import annotations

#: A YAML content file larger than this is refused before it is parsed.
MAX_YAML_BYTES = 4_000_000

#: Nodes a YAML document may hold once its aliases are expanded (a "billion laughs" bomb is a
#: few hundred bytes that expand to billions). Real Sentinel rules hold a few hundred.
MAX_YAML_NODES = 200_000

#: How deeply YAML collections may nest.
MAX_YAML_DEPTH = 64

#: Rows one template step may emit (literal rows x `count`, a recorded export).
MAX_ROWS_PER_STEP = 10_000

#: Any other text content file (a stored function `.kql`, a watchlist `.csv`, a table schema `.json`).
MAX_TEXT_BYTES = 4_000_000

#: A recorded export (CSV/JSON/Parquet) larger than this is refused before it is read.
MAX_RECORDED_BYTES = 64_000_000

#: Characters one template value may hold once its placeholders are filled (entities that
#: repeat each other would otherwise double at every step).
MAX_VALUE_CHARS = 100_000
