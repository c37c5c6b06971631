"""The run's stages after loading: generate and load rows, run each detection, judge, explain, compare."""
