"""CSV export of results.jsonl: one row per request, for spreadsheets.

Streams line by line, so a run of any size exports in constant memory. Columns are
the results.jsonl fields in their usual order, plus any extra field the first line
has (a file from another llmbench version keeps its columns).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson

from llmbench.result import RequestResult

__all__ = ["COLUMNS", "write_csv"]

# The results.jsonl fields, in the order RequestResult.to_json writes them.
COLUMNS: tuple[str, ...] = tuple(
    RequestResult(index=0, phase="measure", status="ok", t0_ns=0, end_ns=0).to_json(0)
)
# A cell starting with one of these is a formula to a spreadsheet; error messages come
# from the server, so such text cells get a leading apostrophe (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(results_jsonl: Path, csv_path: Path) -> int:
    """Write one CSV row per line of ``results_jsonl``; return the number of rows.

    Lines that are not JSON objects (a torn last line after a crash) are skipped.
    Raises OSError when the input cannot be read or the output written.
    """
    rows = 0
    with results_jsonl.open("rb") as src, csv_path.open("w", newline="", encoding="utf-8") as dst:
        writer: csv.DictWriter[str] | None = None
        for line in src:
            record = _parse(line)
            if record is None:
                continue
            if writer is None:
                columns = [*COLUMNS, *(key for key in record if key not in COLUMNS)]
                writer = csv.DictWriter(dst, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
            writer.writerow({key: _cell(value) for key, value in record.items()})
            rows += 1
        if writer is None:  # an empty run still gets a header, so tools see the columns
            csv.writer(dst).writerow(COLUMNS)
    return rows


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _cell(value: Any) -> Any:
    """Spreadsheet-ready: empty for null, JSON for lists, text defused of formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        value = orjson.dumps(value).decode("utf-8")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
