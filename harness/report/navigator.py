"""navigator-layer.json: an ATT&CK Navigator layer (format 4.5) scored by test outcomes.

Other tools score a technique by how many rules map to it, so "mapped but never shown to
work" looks like coverage. Here the score is the technique's state from the run: verified
(3), mapped but untested (2), mapped but failing (1), atomic tests but no detection (0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.model import TECHNIQUE_STATES

COLOURS = {"verified": "#8ec843", "untested": "#ffe766", "failing": "#ff6666", "not_detected": "#bdbdbd"}
LABELS = {
    "verified": "verified: a must-fire test passes",
    "untested": "mapped, but no must-fire test",
    "failing": "mapped, but its must-fire tests fail",
    "not_detected": "atomic tests, but no detection",
}


def _comment(t: dict[str, Any]) -> str:
    dets = (
        "; ".join(
            f"{d['detection']}: {d['state']} ({d['must_fire_passed']} must-fire passed, "
            f"{d['must_fire_not_passed']} not)"
            for d in t["detections"]
        )
        or "no detection"
    )
    return f"{LABELS[t['state']]}. Atomic tests caught: {t['covered']}/{t['tests']}. {dets}."


def build_layer(report: dict[str, Any]) -> dict[str, Any]:
    s = report["summary"]
    techniques = []
    for t in report["techniques"]:
        techniques.append(
            {
                "techniqueID": t["technique"],
                "score": t["score"],
                "color": COLOURS[t["state"]],
                "comment": _comment(t),
                "enabled": True,
                "metadata": [
                    {"name": "state", "value": t["state"]},
                    {"name": "atomic tests caught", "value": f"{t['covered']}/{t['tests']}"},
                ]
                + [{"name": d["detection"], "value": d["state"]} for d in t["detections"]],
                "showSubtechniques": False,
            }
        )
    return {
        "name": "atomic-harness coverage",
        "versions": {"navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": (
            f"Techniques scored by test outcomes (seed {report['run']['seed']}): "
            f"{s['detections']} detections, {s['cases']} cases, {s['passed']} passed, "
            f"{s['failed']} failed, {s['error']} errors."
        ),
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "aggregateFunction": "max",
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {
            "colors": [COLOURS["not_detected"], COLOURS["failing"], COLOURS["untested"], COLOURS["verified"]],
            "minValue": 0,
            "maxValue": max(TECHNIQUE_STATES.values()),
        },
        "legendItems": [{"label": LABELS[k], "color": COLOURS[k]} for k in TECHNIQUE_STATES],
        "metadata": [
            {"name": "generator", "value": f"atomic-harness {report['tool']['version']}"},
            {"name": "seed", "value": str(report["run"]["seed"])},
            {"name": "clock", "value": report["run"]["now"]},
        ],
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def write_navigator(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "navigator-layer.json"
    path.write_text(
        json.dumps(build_layer(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path
