"""JUnit XML for CI systems: one testcase per SLO check or compared metric.

Built with ElementTree, which escapes markup; on top of that every string is cleaned
of what XML 1.0 cannot hold at all (control characters, lone surrogates, U+FFFE/U+FFFF),
because messages quote server text and a CI parser rejects the whole file on one bad byte.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmbench.slo import SloResult, show_figure

__all__ = ["JUnitCase", "build_junit", "slo_cases", "write_junit"]

# XML 1.0 "Char" production (https://www.w3.org/TR/xml/#charsets), negated.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class JUnitCase:
    """One testcase; ``skipped`` marks a row that was shown but not judged."""

    name: str
    classname: str
    passed: bool
    message: str = ""
    time_s: float = 0.0
    skipped: bool = False


def _clean(text: str) -> str:
    """Replace characters XML cannot carry with a visible ``\\xNN`` / ``\\uNNNN`` escape."""
    return _NOT_XML_CHAR.sub(lambda m: _escape_char(m.group()), text)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _case_element(case: JUnitCase) -> ET.Element:
    el = ET.Element(
        "testcase",
        name=_clean(case.name),
        classname=_clean(case.classname),
        time=f"{case.time_s:.3f}",
    )
    message = _clean(case.message)
    if case.skipped:
        ET.SubElement(el, "skipped", message=message)
    elif not case.passed:
        failure = ET.SubElement(el, "failure", message=message, type="failure")
        failure.text = message
    return el


def build_junit(suite_name: str, cases: Sequence[JUnitCase]) -> bytes:
    """The XML document (UTF-8, with declaration) for one suite of cases."""
    failures = sum(not c.passed and not c.skipped for c in cases)
    skipped = sum(c.skipped for c in cases)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{sum(c.time_s for c in cases):.3f}",
    }
    attrib = {"name": _clean(suite_name), **counts}
    root = ET.Element("testsuites", attrib)
    suite = ET.SubElement(root, "testsuite", attrib)
    suite.extend(_case_element(c) for c in cases)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(path: Path | str, suite_name: str, cases: Sequence[JUnitCase]) -> None:
    """Write the file (parent directories too); raises OSError for the caller to report."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(build_junit(suite_name, cases))


def slo_cases(results: Sequence[SloResult]) -> list[JUnitCase]:
    """One testcase per SLO check, named by its expression."""
    cases = []
    for r in results:
        c = r.check
        measured, required = show_figure(r.measured, c.unit), show_figure(c.threshold, c.unit)
        message = f"{c.metric}: measured {measured}, required {c.op} {required}"
        if r.reason:
            message += f"; {r.reason}"
        cases.append(JUnitCase(c.expr, "llmbench.slo", r.passed, message))
    return cases
