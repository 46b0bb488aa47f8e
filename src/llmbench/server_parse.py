"""One scraped Prometheus page (text exposition format 0.0.4) to the readings llmbench
keeps. Sans-IO: bytes and a Content-Type in, frozen :class:`Reading`\\ s or a
:class:`ParseFailure` out; the scraper (:mod:`llmbench.server_scraper`) owns the socket.

The values are parsed by ``prometheus_client``'s text parser, the reference
implementation, never by hand. Before it runs, the page's lines are *selected* by
metric name: only the families llmbench keeps (:mod:`llmbench.server_families`, and
``--server-metric REGEX``) reach the parser. A vLLM page is mostly histogram buckets
llmbench never reads (about 1,300 lines and 120 KB for one model, 22 ms to parse
whole on this project's VM); selected, it is a few dozen lines. Every other line is
still screened: one that cannot start a metric line (HTML, a log, binary garbage) fails
the page, with the parser's own message for that line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from llmbench.server_families import BY_NAME
from llmbench.server_series import Reading, SeriesKind

__all__ = [
    "MAX_KEPT_LINES",
    "MAX_LABELS",
    "MAX_LABEL_CHARS",
    "MAX_NAME_CHARS",
    "ParseFailure",
    "Selector",
    "parse_page",
]

# A label value is a model name, a GPU's UUID, a host: 256 characters hold any of them;
# a hostile exporter's megabyte label costs us no more than this.
MAX_LABEL_CHARS = 256
MAX_LABELS = 16
# Distinct metric names whose selection is remembered; a page that makes up names
# (one per scrape) is screened again each time rather than grow the memo.
_MEMO_CAP = 10_000
# A parser message is one line about one line of the page.
_MESSAGE_CHARS = 200
# Metric names are tens of characters; a longer "name" is never one we keep, and is
# never given to a --server-metric pattern (a regex's time grows with its input).
MAX_NAME_CHARS = 200
# The kept lines a page may have: a vLLM page selected is a few dozen, 8 GPUs' DCGM
# families a few hundred. The parser is pure Python and runs in a thread that shares
# the interpreter lock with the loop stamping tokens: its work must stay small.
MAX_KEPT_LINES = 5_000
# ... and their length: a sample line with a few labels is well under 1 KB.
MAX_LINE_CHARS = 16_384

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# The suffixes a sample name may add to its family's name (text format 0.0.4, and the
# _created gauge prometheus_client writes beside each counter).
_SUFFIXES = ("_total", "_sum", "_count", "_bucket", "_created")


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """Why a page was not read: ``html`` (a web page), ``parse_error`` (not Prometheus
    text, with the parser's message), ``too_large`` (more kept lines than
    :data:`MAX_KEPT_LINES`)."""

    kind: Literal["html", "parse_error", "too_large"]
    message: str


class Selector:
    """Which metric names a page's lines are kept for: the known families and those
    whose name a ``--server-metric`` pattern matches whole (as Prometheus anchors its
    relabelling regexes). Remembers its answer per name (up to a cap)."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self._patterns = tuple(re.compile(p) for p in patterns)
        self._memo: dict[str, bool] = {}

    def wants(self, name: str) -> bool:
        """Whether a line naming ``name`` (a sample, or a # HELP/# TYPE line) is kept."""
        if len(name) > MAX_NAME_CHARS:
            return False
        known = self._memo.get(name)
        if known is None:
            known = any(self._family_wanted(c) for c in _candidates(name))
            if len(self._memo) < _MEMO_CAP:
                self._memo[name] = known
        return known

    def _family_wanted(self, family: str) -> bool:
        return family in BY_NAME or self.extra(family)

    def extra(self, family: str) -> bool:
        """Whether a --server-metric pattern matches ``family`` whole."""
        return any(p.fullmatch(family) for p in self._patterns)


def _candidates(name: str) -> list[str]:
    """``name`` and the family names it may belong to (without one known suffix)."""
    out = [name]
    out += [name[: -len(s)] for s in _SUFFIXES if name.endswith(s) and len(name) > len(s)]
    return out


def parse_page(body: bytes, content_type: str, selector: Selector) -> list[Reading] | ParseFailure:
    """The readings of one page, or why it is not a Prometheus page. CPU-bound (about
    a millisecond for a vLLM page): the scraper runs it off the event loop."""
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        shown = content_type.split(";")[0].strip() or "no Content-Type"
        return ParseFailure("html", f"an HTML page ({shown}), not Prometheus text")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParseFailure(
            "parse_error", f"not UTF-8 text (byte 0x{body[exc.start]:02x} at {exc.start})"
        )
    selected = _select(text, selector)
    if isinstance(selected, ParseFailure):
        return selected
    try:
        families = list(text_string_to_metric_families(selected))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        return _parser_failure(exc)
    return _readings(families, selector)


def _select(text: str, selector: Selector) -> str | ParseFailure:
    """The lines of the families ``selector`` wants; a line that cannot be part of the
    text format fails the page with the parser's own message for it."""
    kept: list[str] = []
    wants = selector.wants
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            parts = line.split(None, 3)
            if len(parts) > 2 and parts[1] in ("HELP", "TYPE") and wants(parts[2]):
                kept.append(line)
                if len(kept) > MAX_KEPT_LINES or len(line) > MAX_LINE_CHARS:
                    return _too_large(line)
            continue
        match = _NAME.match(line)
        if match is None or not _sample_shaped(line, match.end()):
            if line.startswith('{"'):  # a UTF-8 quoted name (newer exporters): never ours
                continue
            return _line_failure(line)
        if wants(match.group()):
            kept.append(line)
            if len(kept) > MAX_KEPT_LINES or len(line) > MAX_LINE_CHARS:
                return _too_large(line)
    return "\n".join(kept) + "\n"


def _too_large(line: str) -> ParseFailure:
    """A page whose kept part is past the parser's budget (see MAX_KEPT_LINES)."""
    if len(line) > MAX_LINE_CHARS:
        return ParseFailure("too_large", f"a line of {len(line):,} characters")
    return ParseFailure("too_large", f"more than {MAX_KEPT_LINES:,} lines of the families kept")


def _sample_shaped(line: str, name_end: int) -> bool:
    """Whether a line looks like ``name[{labels}] value [timestamp]``: labels or a blank
    after the name, and a number last (the value, or the timestamp after it). Enough to
    tell a page of prose or a log from an exposition, at C speed; the parser judges the
    lines it is given."""
    if name_end == len(line) or line[name_end] not in "{ \t":
        return False
    last = line.rsplit(None, 1)[-1]
    try:
        float(last)
    except ValueError:
        return False
    return True


def _line_failure(line: str) -> ParseFailure:
    try:
        list(text_string_to_metric_families(line[:_MESSAGE_CHARS] + "\n"))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        return _parser_failure(exc)
    return ParseFailure("parse_error", f"not a metric line: {line[:_MESSAGE_CHARS]!r}")


def _parser_failure(exc: Exception) -> ParseFailure:
    message = " ".join(str(exc).split())[:_MESSAGE_CHARS]
    return ParseFailure("parse_error", f"not Prometheus text: {message or type(exc).__name__}")


def _readings(families: Iterable[Metric], selector: Selector) -> list[Reading]:
    """Each kept sample as a Reading. A name is resolved from the sample's own name
    first (the known families), so a page whose # TYPE lines are grouped apart from
    its samples (dcgm-exporter's README) reads the same; the declared types decide how
    a --server-metric family is read."""
    families = list(families)
    declared = {m.name: m.type for m in families if m.type != "unknown"}
    out: list[Reading] = []
    for metric in families:
        for sample in metric.samples:
            resolved = _known(sample.name) or _extra(sample.name, declared, selector)
            if resolved is None or not isinstance(sample.value, int | float):
                continue
            family, kind, part = resolved
            if family.startswith("DCGM_") and _dcgm_blank(float(sample.value)):
                continue  # the exporter's "no value" sentinel, not a reading
            out.append(Reading(family, kind, _labels(sample.labels), part, float(sample.value)))
    return out


# DCGM writes these for a field it has no value for: 0x7ffffffffffffff0 and up for an
# integer field (DCGM_INT64_BLANK and its kin), 2**47 for a float field (DCGM_FP64_BLANK);
# see dcgm_structs.h, and NVIDIA/DCGM#199 for a blank reaching an exporter's page.
_DCGM_INT_BLANK = float(0x7FFFFFFFFFFFFFF0)
_DCGM_FP_BLANK = 140737488355328.0


def _dcgm_blank(value: float) -> bool:
    return value >= _DCGM_INT_BLANK or value == _DCGM_FP_BLANK


_Resolved = tuple[str, SeriesKind, Literal["value", "sum", "count"]]


def _known(name: str) -> _Resolved | None:
    """A sample of a known family: (family, how it is read, part)."""
    family = BY_NAME.get(name)
    if family is not None and family.kind != "histogram_sum":  # a gauge, or a bare counter
        return name, "counter" if family.kind == "counter" else "gauge", "value"
    for suffix, kind in (("_total", "counter"), ("_sum", "histogram_sum")):
        if name.endswith(suffix):
            family = BY_NAME.get(name[: -len(suffix)])
            if family is not None and family.kind == kind:
                return family.name, "counter", "value"
    return None


def _extra(name: str, declared: dict[str, str], selector: Selector) -> _Resolved | None:
    """A sample of a --server-metric family, read as its declared type says."""
    if name.endswith("_created"):
        return None  # when a counter was created: a timestamp, never a measurement
    if name.endswith("_total"):
        base = name[: -len("_total")]
        wanted = selector.extra(base) or selector.extra(name)  # either name may be given
        if declared.get(base) == "counter" and wanted:
            return base, "counter", "value"
    for suffix, part in _MEAN_PARTS:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and declared.get(base) in _MEAN_TYPES and selector.extra(base):
            return base, "mean", part
    if declared.get(name, "unknown") in ("gauge", "unknown") and selector.extra(name):
        return name, "gauge", "value"
    return None


_MEAN_TYPES = ("histogram", "summary")
_MEAN_PARTS: tuple[tuple[str, Literal["sum", "count"]], ...] = (
    ("_sum", "sum"),
    ("_count", "count"),
)


def _labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    items = sorted(labels.items())[:MAX_LABELS]
    return tuple((k[:MAX_LABEL_CHARS], v[:MAX_LABEL_CHARS]) for k, v in items)
