"""Loading our files into the model: detections, atomics, telemetry templates, expectations.

Each format has a JSON Schema in `schemas/`; every loader fails closed with file and line.
"""
