"""Atomic test harness and detection validator for Microsoft Sentinel KQL detections."""

__version__ = "0.1.0"
