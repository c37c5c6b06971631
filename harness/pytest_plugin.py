"""pytest plugin: one test item per (case, detection), named like `T1608.005-3[link_target_email]`.

Thin adapter over the suite and the runner. Collecting the project's pyproject.toml (with a
[tool.atomic-harness] table) loads the suite and names its items; nothing runs then (`--collect-only`
makes no engine call). The first item of a detection to run judges that detection's cells (the runner on
the suite narrowed to it: every case, the same dataset, so the same verdicts as a whole run), and each item
reports its verdict. Items carry `xdist_group(<detection>)`, so `pytest -n auto --dist loadgroup` keeps a
detection's items on one worker and no worker runs what another does. Problems of the suite become
erroring items, so nothing passes because it did not run.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from tabulate import tabulate

from harness.errors import HarnessError
from harness.model import Status
from harness.report.escaping.terminal import safe, safe_lines


def _cell(value: Any) -> Any:
    """A table cell for the terminal: text escaped, numbers and empties as tabulate shows them."""
    return safe(value) if isinstance(value, str) else value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atomic-harness")
    group.addoption("--atomic-seed", type=int, default=None, help="seed for synthetic telemetry")
    group.addoption("--atomic-now", default=None, help="pinned clock (ISO datetime)")
    group.addoption("--atomic-backend", default=None, choices=("embedded", "kusto", "emulator"),
                    help="KQL engine: embedded (default), kusto or emulator")
    group.addoption("--atomic-kusto-url", default=None, help="Kusto endpoint for --atomic-backend kusto")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "atomic: one (case, detection) verdict from the atomic suite")
    # pytest-xdist registers it when installed; without it the mark is inert, and must not warn.
    config.addinivalue_line("markers", "xdist_group(name): items of one group run on one xdist worker")
    check_options(config.option)


def check_options(opts: Any) -> None:
    """Options that cannot work are a usage error before anything is collected (as pytest-xdist does),
    not an erroring item after the suite has been loaded."""
    if opts.atomic_now is None and opts.atomic_backend is None and opts.atomic_kusto_url is None:
        return  # the common case: no harness option, nothing to import
    from harness.backends.base import check_engine
    from harness.config import parse_now

    if opts.atomic_now is not None:
        try:
            parse_now(opts.atomic_now)
        except HarnessError as exc:
            raise pytest.UsageError(
                f"atomic-harness: --atomic-now {opts.atomic_now!r} is not an ISO datetime such as 2025-06-01T12:00:00Z"
            ) from exc
    try:
        check_engine(opts.atomic_backend or "embedded", opts.atomic_kusto_url,
                     backend_option="--atomic-backend", url_option="--atomic-kusto-url")
    except HarnessError as exc:
        raise pytest.UsageError(f"atomic-harness: {exc.reason}") from exc


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker under `--dist loadgroup`, suffix each grouped item's node id with `@<group>`,
    which is how xdist keeps a group on one worker. xdist 3.8 writes the suffix to `Node._nodeid`; from
    pytest 9 on a node id lives in `Node._id`, so without this the suffix is lost and grouped items spread
    over every worker (each then judging detections another worker judges too)."""
    if not config.getoption("loadgroup", default=False):
        return
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # an older pytest, where xdist's own suffix works
        return
    for item in items:
        marks = item.iter_markers("xdist_group")
        names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks}
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = coerce_node_id(item.nodeid + suffix)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name != "pyproject.toml":
        return None
    try:
        data = tomllib.loads(file_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if "atomic-harness" not in data.get("tool", {}):
        return None
    return AtomicSuite.from_parent(parent, path=file_path)


class AtomicSuite(pytest.File):
    def collect(self):  # type: ignore[override]
        # Imported here: pytest loads this plugin in every session of the environment, and only a
        # project that declares [tool.atomic-harness] needs the engine, the generators and their libraries.
        from harness.config import load_config
        from harness.suite import load_suite

        opts = self.config.option
        overrides = {
            "seed": opts.atomic_seed, "now": opts.atomic_now, "backend": opts.atomic_backend,
            "kusto_url": opts.atomic_kusto_url,
        }
        try:
            self.suite = load_suite(load_config(self.path.parent, overrides))
        except HarnessError as exc:
            yield LoadErrorItem.from_parent(self, name="load[run]", error=exc)
            return
        self.results: dict[str, Any] = {}  # detection key -> its RunResult (or the HarnessError it ended in)
        for i, err in enumerate(self.suite.problems):
            label = Path(err.file).name if err.file else str(i)
            yield LoadErrorItem.from_parent(self, name=f"load[{label}]", error=err)
        for entry in self.suite.detections:  # the runner's order: a detection's cells, case by case
            for case in self.suite.cases:
                item = AtomicItem.from_parent(self, name=f"{case.id}[{entry.key}]", case_id=case.id,
                                              detection_key=entry.key)
                item.add_marker(pytest.mark.atomic)
                item.add_marker(pytest.mark.xdist_group(entry.key))
                yield item

    def verdict(self, case_id: str, detection_key: str) -> Any:
        """The cell's verdict, judging its detection first if no item of it has run yet in this process."""
        found = self.results.get(detection_key)
        if found is None:
            from harness.run.nearmiss import check_near_misses
            from harness.run.runner import Runner

            try:
                found = Runner(self.suite.narrowed(detections={detection_key}), after=check_near_misses).run()
            except HarnessError as exc:
                found = exc
            self.results[detection_key] = found
        if isinstance(found, HarnessError):
            pytest.fail(safe(f"ERROR {case_id}[{detection_key}]: the run stopped: {found}"), pytrace=False)
        verdict = found.verdict(case_id, detection_key)
        if verdict is None:
            pytest.fail(safe(f"ERROR {case_id}[{detection_key}]: the run judged no such cell"), pytrace=False)
        return verdict


class VerdictFailure(Exception):
    pass


class AtomicItem(pytest.Item):
    def __init__(self, *, case_id: str, detection_key: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.case_id, self.detection_key = case_id, detection_key
        self.verdict: Any = None

    def setup(self) -> None:
        # An engine or input error is reported as a pytest ERROR (it fails the setup), never as a pass or
        # a plain failure; its text is the whole report: no traceback reaches the user for a content mistake.
        self.verdict = v = self.parent.verdict(self.case_id, self.detection_key)  # type: ignore[union-attr]
        if v.status == Status.ERROR:
            pytest.fail(safe(f"ERROR {v.case_id}[{v.detection_key}]: {v.message}"), pytrace=False)

    def runtest(self) -> None:
        v = self.verdict
        if v.status == Status.FAILED:
            raise VerdictFailure(v.message)
        if v.status == Status.KNOWN_GAP:
            self.user_properties.append(("known_gap", v.expectation.known_gap))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        v = self.verdict
        if v is None or not isinstance(excinfo.value, VerdictFailure):
            return super().repr_failure(excinfo)
        exp = v.expectation
        lines = [f"{v.case_id}[{v.detection_key}]: {v.message}", "",
                 f"expected: {'must fire' if exp.fires else 'must not fire'}"
                 + (f", {exp.rows} row(s)" if exp.rows is not None else "") + (f" ({exp.path})" if exp.path else "")]
        if exp.values:
            keys = list(dict.fromkeys(k for val in exp.values for k in val))
            lines.append(tabulate([[_cell(val.get(k)) for k in keys] for val in exp.values],
                                  headers=[safe(k) for k in keys], tablefmt="simple"))
        lines += ["", f"actual: {'fired' if v.fired else 'did not fire'}, {v.row_count} row(s) of this case"]
        if v.rows:
            cols = sorted({c for val in (exp.values or []) for c in val}) or v.columns[:8]
            lines.append(tabulate([[_cell(r.get(c)) for c in cols] for r in v.rows[:20]],
                                  headers=[safe(c) for c in cols], tablefmt="simple"))
        return safe_lines("\n".join(lines))  # content reaches the terminal escaped (harness.report.escaping)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.case_id}[{self.detection_key}]"


class LoadErrorItem(pytest.Item):
    def __init__(self, *, error: HarnessError, **kw: Any) -> None:
        super().__init__(**kw)
        self.error = error

    def setup(self) -> None:
        pytest.fail(safe(f"load error: {self.error}"), pytrace=False)  # an ERROR, with no traceback

    def runtest(self) -> None:  # not reached: setup fails
        pytest.fail(safe(f"load error: {self.error}"), pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name
