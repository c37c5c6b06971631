"""Mutation testing of detections: does the gate catch a broken rule?

`atomic-harness mutate` makes single edits to each detection (mutants: a flipped comparison, a dropped
`where`, a list item left out, a threshold moved by one, ...), runs each mutant on its own detection's cells
and counts the mutants some cell catches. One module per job:

- `model`: mutants, outcomes and scores (plain data);
- `kql`: mutants of a KQL query, made from Microsoft's syntax tree (harness.kql.analyzer) as edits of exact
  text spans;
- `sigma`: mutants of a Sigma rule, at the Sigma YAML level (converted to KQL as the rule is);
- `generate`: every mutant of a detection (its query or Sigma rule, and its trigger), stillborn ones (the
  analyzer rejects them) left out, deterministic ids, the expected file's equivalent mutants applied;
- `execute`: running mutants on an engine that holds the suite's dataset once, across processes;
- `hints`: what case a surviving mutant would need;
- `report`: the per-detection table, JSON and Markdown.
"""
