"""Synthetic telemetry: scenario templates turned into schema-typed rows, plus benign background."""
