"""The report.html of a capacity sweep (`llmbench sweep`), from its sweep.json value.

It is built as a run's report is (:mod:`llmbench.output.report`): one offline file with
the vendored ECharts inlined, a CSP that runs only its three scripts, and every figure
and string in one escaped JSON document that the page shows as text only.

sweep.json may come back from disk damaged or hand-edited, so nothing is taken on
trust: each field is checked for its type here (a number must be a finite int or
float, not a bool; a string a string), and whatever fails is dropped, never fatal.
A step's report is linked only when its ``dir`` is a plain name inside the sweep
directory, so a link can never leave it or run anything.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import llmbench
from llmbench.output.report import ReportError, render_page
from llmbench.redaction import redact_url

__all__ = ["STEPS_CAP", "build_sweep_report", "write_sweep_report"]

# A sweep has ~100 steps; a file with more is not one, and the page stays small.
STEPS_CAP = 1_000
# Strings (reasons, SLO expressions) are a line or two; a longer one is cut here.
_TEXT_CAP = 2_000
# Reasons per step, SLOs, thresholds, goodput criteria: a handful each.
_LIST_CAP = 50
# JS numbers are exact integers up to 2**53, and orjson writes none past 2**64.
_INT_LIMIT = 2**53
_PERCENTILES = ("p50", "p95", "p99")
_LATENCIES = ("ttft_ms", "tpot_ms", "itl_ms", "latency_ms")
_FIGURES = ("achieved_rps", "output_tokens_per_s", "goodput_percent", "per_user_tokens_per_s")
_STEP_TEXTS = ("role", "verdict", "stop_reason", "dir")
_UNITS = {"rate": "req/s", "concurrency": "concurrency"}
_OPS = frozenset({"<=", "<", ">=", ">"})
_THRESHOLD_TEXTS = ("expr", "metric", "family", "stat", "unit")
# A URL scheme (RFC 3986 §3.1): "javascript:", "file:", "c:".
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_NAME_CAP = 255  # a file name's longest on common file systems


def build_sweep_report(sweep: dict[str, Any]) -> str:
    """The whole report.html of a sweep, from its sweep.json value (any shape)."""
    return render_page(
        "llmbench sweep report",
        "sweep_report_body.html",
        "sweep_report.js",
        _sweep_data(sweep),
        css=("sweep_report.css",),
    )


def write_sweep_report(sweep_dir: Path, sweep: dict[str, Any]) -> Path:
    """Write ``sweep_dir/report.html`` atomically; return its path.

    Raises ReportError (one line) when the file cannot be written."""
    out = sweep_dir / "report.html"
    tmp = out.with_name(f".{out.name}.tmp")
    html = build_sweep_report(sweep)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out)  # a reader never sees half a report
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):  # gone after the rename; else a failure's leftover
            tmp.unlink(missing_ok=True)
    return out


def _sweep_data(sweep: Any) -> dict[str, Any]:
    """Everything the page shows, each field checked; the steps sorted by load."""
    sweep = _dict(sweep)
    raw_steps = sweep.get("steps")
    raw_steps = raw_steps[:STEPS_CAP] if isinstance(raw_steps, list) else []
    answer, knee = _answer(sweep.get("answer")), _knee(sweep.get("knee"))
    steps = [_step(raw, pos) for pos, raw in enumerate(raw_steps) if isinstance(raw, dict)]
    for step in steps:
        step["answer"] = answer is not None and step["pos"] == answer["step"]
        step["knee"] = knee is not None and step["pos"] == knee["step"]
    steps.sort(key=lambda s: (s["load"] is None, s["load"] or 0.0, s["pos"]))
    mode = _text(sweep.get("mode"))
    load_unit = _text(sweep.get("load_unit"))
    if mode not in _UNITS:  # a damaged mode: the unit still tells which one it was
        mode = next((m for m, unit in _UNITS.items() if unit == load_unit), None)
    return {
        "report_version": llmbench.__version__,
        "schema": _text(sweep.get("schema")),
        "llmbench_version": _text(sweep.get("llmbench_version")),
        "started_at": _text(sweep.get("started_at")),
        "url": _url(sweep.get("url")),
        "model": _text(sweep.get("model")),
        "provider": _text(sweep.get("provider")),
        "mode": mode,
        "load_unit": load_unit or _UNITS.get(mode or ""),
        "slos": _texts(sweep.get("slos")),
        "slo_thresholds": [_threshold(t) for t in _dicts(sweep.get("slo_thresholds"))],
        "goodput": _goodput(sweep.get("goodput")),
        "tolerance_percent": _number(sweep.get("tolerance_percent")),
        "step_duration_s": _number(sweep.get("step_duration_s")),
        "step_requests": _count(sweep.get("step_requests")),
        "interrupted": sweep.get("interrupted") is True,
        "probe": _probe(sweep.get("probe")),
        "answer": answer,
        "knee": knee,
        "steps": steps,
    }


def _step(raw: dict[str, Any], pos: int) -> dict[str, Any]:
    """One step's row: ``pos`` is its place in sweep.json's list, which the answer's
    and the knee's ``step`` refer to."""
    step: dict[str, Any] = {"pos": pos, "index": _count(raw.get("index"))}
    step.update((key, _text(raw.get(key))) for key in _STEP_TEXTS)
    step["href"] = _step_href(step["dir"])
    step["load"] = _number(raw.get("load"))
    step["reasons"] = _texts(raw.get("reasons"))
    step["duration_s"] = _number(raw.get("duration_s"))
    requests = _dict(raw.get("requests"))
    step["requests"] = {key: _count(requests.get(key)) for key in ("ok", "failed")}
    step.update((key, _number(raw.get(key))) for key in _FIGURES)
    step.update((key, _stats(raw.get(key))) for key in _LATENCIES)
    tpot_p50 = (step["tpot_ms"] or {}).get("p50")
    if step["per_user_tokens_per_s"] is None and tpot_p50:  # its definition: 1000 / TPOT p50
        step["per_user_tokens_per_s"] = 1000.0 / tpot_p50
    return step


def _stats(value: Any) -> dict[str, float | None] | None:
    if not isinstance(value, dict):
        return None
    return {p: _number(value.get(p)) for p in _PERCENTILES}


def _threshold(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: _text(raw.get(key)) for key in _THRESHOLD_TEXTS}
    op = raw.get("op")
    out["op"] = op if op in _OPS else None
    out["value"] = _number(raw.get("value"))
    return out


def _goodput(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    criteria = _dict(value.get("criteria"))
    return {
        "criteria": {
            _text(key): _number(ms)
            for key, ms in list(criteria.items())[:_LIST_CAP]
            if isinstance(key, str) and _number(ms) is not None
        },
        "target_percent": _number(value.get("target_percent")),
    }


def _probe(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {
        key: _number(value.get(key))
        for key in ("concurrency", "achieved_rps", "output_tokens_per_s")
    }
    out["dir"] = _text(value.get("dir"))
    out["href"] = _step_href(out["dir"])
    return out


def _answer(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {"found": value.get("found") is True, "step": _count(value.get("step"))}
    for key in ("load", "bound_load", "client_limited_at"):
        out[key] = _number(value.get(key))
    out["bounded_by"] = _texts(value.get("bounded_by"))
    out["text"] = _text(value.get("text"))
    return out


def _knee(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {"load": _number(value.get("load")), "step": _count(value.get("step"))}


def _step_href(name: str | None) -> str | None:
    """``name/report.html`` when ``name`` is one plain directory name: no separator,
    no "..", no scheme, no control character; percent-encoded, so "#", "?" or "%" in
    a name still point at that directory. Else None: the page shows the name, unlinked."""
    if not name or name == "." or len(name) > _NAME_CAP or name != name.strip():
        return None
    if "/" in name or "\\" in name or ".." in name or _SCHEME.match(name):
        return None
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return None  # control characters, and invisible ones (bidi overrides)
    return quote(name, safe="") + "/report.html"


def _url(value: Any) -> str | None:
    """The URL without credentials (the sweep already strips them; a file may be
    hand-made); one that cannot be parsed is left out rather than shown unredacted."""
    text = _text(value)
    if text is None:
        return None
    try:
        return redact_url(text)
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past the float range
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    """An int (not a bool) that JS holds exactly, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if abs(value) < _INT_LIMIT else None


def _text(value: Any) -> str | None:
    """A string, cut to _TEXT_CAP; lone surrogates (which no JSON encoder writes)
    become U+FFFD."""
    if not isinstance(value, str):
        return None
    return value[:_TEXT_CAP].encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [text for text in map(_text, value[:_LIST_CAP]) if text is not None]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [row for row in value[:_LIST_CAP] if isinstance(row, dict)]
