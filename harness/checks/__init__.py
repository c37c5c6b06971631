"""Static checks (no engine run) and their outputs: validation, value lint, SARIF, the corpus check."""
