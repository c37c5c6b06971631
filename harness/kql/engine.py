"""Microsoft's KQL analyzer, Kusto.Language, running in an embedded V8 (mini-racer).

Kusto.Language is the analyzer Azure Data Explorer, the Sentinel portal and Azure-Sentinel's
own CI use. Microsoft compiles it to JavaScript (npm `@kusto/language-service-next`); the two
files are vendored in harness/kql/vendor (see SOURCE.md there) with harness/kql/walk.js, which
declares workspaces and walks each analysed query inside V8, so one query costs one call
across the bridge and comes back as plain JSON.

The engine loads once per process, lazily (about half a second), under a lock, so threads
share it. A V8 time or heap overrun, or any exception inside the analyzer, becomes a
`QueryLimitExceeded` for an overrun, an `AnalyzerFailure` otherwise, and the isolate is
rebuilt for the next call, since an interrupted analysis may leave Kusto.Language's lazily
built static tables half-made.

V8 is initialised once per process and does not survive a fork: a process forked after the
analyzer was loaded cannot start it again (mini-racer would hang), so there the analyzer
refuses with an `AnalyzerFailure` naming the cause. Worker processes that analyse use the `spawn`
start method (as harness.checks.corpus does), or fork before the first analysis.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from harness.errors import AnalyzerFailure, QueryLimitExceeded
from harness.kql.limits import ANALYSIS_TIMEOUT_S, DECLARE_TIMEOUT_S, V8_HEAP_LIMIT_BYTES

__all__ = ["ANALYZER_PACKAGE", "ANALYZER_VERSION", "KustoEngine", "LoadStats", "VENDORED_FILES", "engine"]

#: The npm package the vendored analyzer comes from, and its version (reported in SARIF).
ANALYZER_PACKAGE = "@kusto/language-service-next"
ANALYZER_VERSION = "12.4.1"

#: Load order and SHA-256 of the vendored files (harness/kql/vendor/SOURCE.md says where they are from).
VENDORED_FILES: dict[str, str] = {
    "bridge.min.js": "5edc505e5634daf2922197797740180d587d15b5f0f505c95ad7b5dd6b5daae8",
    "Kusto.Language.Bridge.min.js": "3a96a4ac1bff095ba49d6606e7d591f5d00519b529c51a6850032f62b0960a86",
}


#: The process that initialised V8 (mini-racer initialises it once per process, on first use).
_V8_PID: int | None = None


def _abandon(ctx: Any) -> None:
    """Let go of an isolate inherited through a fork without ever freeing it: freeing waits for
    V8's thread, which stayed in the parent, and would hang this process (from `close()`, from
    `__del__`, or at interpreter exit). One deliberately leaked reference keeps it alive for good."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(ctx))


@dataclass(frozen=True)
class LoadStats:
    """What loading cost, for bench/kql_analyzer.py."""

    seconds: float
    heap_bytes: int


class KustoEngine:
    """One V8 isolate holding Kusto.Language, plus the workspaces declared to it."""

    def __init__(self, heap_limit: int = V8_HEAP_LIMIT_BYTES) -> None:
        self.heap_limit = heap_limit
        self._lock = threading.RLock()
        self._ctx: Any = None
        self._pid: int | None = None
        self._declared: set[str] = set()
        self._specs: dict[str, str] = {}  # key -> spec JSON, to re-declare after a rebuild
        self.load_stats: LoadStats | None = None
        atexit.register(self.close)

    # -- lifecycle -------------------------------------------------------------------------

    def _context(self) -> Any:
        global _V8_PID
        if self._ctx is not None and self._pid == os.getpid():
            return self._ctx
        if self._ctx is not None:
            _abandon(self._ctx)
        self._ctx = None
        self._declared.clear()
        if _V8_PID is not None and _V8_PID != os.getpid():
            raise AnalyzerFailure(
                "the KQL analyzer cannot start in a process forked after it was loaded (V8 does not survive"
                " a fork); start worker processes with the 'spawn' method"
            )
        _V8_PID = os.getpid()
        try:
            from py_mini_racer import MiniRacer
        except ImportError as exc:  # pragma: no cover - mini-racer is a pinned dependency
            raise AnalyzerFailure(f"the KQL analyzer needs mini-racer: {exc}") from exc
        started = time.perf_counter()
        ctx = MiniRacer()
        try:
            package = resources.files("harness.kql")
            for name in VENDORED_FILES:
                ctx.eval((package / "vendor" / name).read_text(encoding="utf-8"))
            ctx.eval((package / "walk.js").read_text(encoding="utf-8"))
            ctx.set_hard_memory_limit(self.heap_limit)
            heap = int(ctx.heap_stats().get("used_heap_size", 0))
        except Exception as exc:
            ctx.close()
            raise AnalyzerFailure(f"cannot load the KQL analyzer: {exc}") from exc
        self.load_stats = LoadStats(time.perf_counter() - started, heap)
        self._ctx, self._pid = ctx, os.getpid()
        return ctx

    def load(self) -> LoadStats:
        """Load now instead of on first use (benchmarks, warm-up)."""
        with self._lock:
            self._context()
            return self.load_stats or LoadStats(0.0, 0)

    def close(self) -> None:
        """Free the isolate. Registered with atexit: mini-racer hangs interpreter exit otherwise."""
        with self._lock:
            ctx, self._ctx = self._ctx, None
            self._declared.clear()
            if ctx is not None and self._pid == os.getpid():
                ctx.close()
            elif ctx is not None:
                _abandon(ctx)

    def _discard(self, ctx: Any) -> None:
        """Close an isolate that was interrupted. The stopped task reports back to mini-racer's event
        loop after the interruption; one more (trivial) task on the same isolate runs only once it
        has, so the loop is not closed under that report."""
        with contextlib.suppress(Exception):  # the isolate is thrown away either way
            ctx.eval("0", timeout_sec=5)
        self.close()

    # -- calls -----------------------------------------------------------------------------

    def _eval(self, script: str, timeout: float, what: str) -> str:
        from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

        ctx = self._context()
        try:
            result = ctx.eval(script, timeout_sec=timeout)
        except JSTimeoutException as exc:
            self._discard(ctx)
            raise QueryLimitExceeded(f"{what} took longer than {timeout:g} s and was stopped") from exc
        except JSOOMException as exc:
            self._discard(ctx)
            raise self._memory_error(what) from exc
        except JSEvalException as exc:
            if ctx.was_hard_memory_limit_reached():
                self._discard(ctx)
                raise self._memory_error(what) from exc
            self._discard(ctx)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AnalyzerFailure(f"the KQL analyzer failed on {what}: {first}") from exc
        if not isinstance(result, str):
            raise AnalyzerFailure(f"the KQL analyzer returned {type(result).__name__} for {what}")
        return result

    def _memory_error(self, what: str) -> QueryLimitExceeded:
        return QueryLimitExceeded(
            f"{what} needed more than {self.heap_limit // 2**20} MB of analyzer memory and was stopped"
        )

    def declare(self, spec_json: str) -> tuple[str, dict[str, Any]]:
        """Declare a workspace (tables, stored functions); returns its key and what the analyzer made of it.

        The same spec is declared once per isolate; the key is its SHA-256."""
        key = hashlib.sha256(spec_json.encode("utf-8")).hexdigest()[:32]
        with self._lock:
            report = self._declare(key, spec_json)
        return key, report

    def _declare(self, key: str, spec_json: str) -> dict[str, Any]:
        self._context()
        if key in self._declared and key in self._specs:
            return {"problems": [], "functions": None}
        script = f"__kqlf.declare({json.dumps(key)}, {json.dumps(spec_json)})"
        report = json.loads(self._eval(script, DECLARE_TIMEOUT_S, "declaring the workspace"))
        self._declared.add(key)
        self._specs[key] = spec_json
        return report

    def analyze(self, key: str, text: str, options: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Analyse *text* against the declared workspace *key*; the walk's JSON as a dict."""
        timeout = ANALYSIS_TIMEOUT_S if timeout is None else timeout
        script = f"__kqlf.analyze({json.dumps(key)}, {json.dumps(text)}, {json.dumps(json.dumps(options))})"
        with self._lock:
            if key not in self._declared or self._ctx is None or self._pid != os.getpid():
                if key not in self._specs:
                    raise AnalyzerFailure(f"workspace {key} was never declared to the analyzer")
                self._declare(key, self._specs[key])
            return json.loads(self._eval(script, timeout, "this query"))


_ENGINE: KustoEngine | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> KustoEngine:
    """The process's analyzer engine (created on first use; V8 loads on the first call that needs it)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = KustoEngine()
        return _ENGINE
