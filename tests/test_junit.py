"""Tests for llmbench.junit: the XML parses, counts add up, and any text survives."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from llmbench.junit import JUnitCase, build_junit, slo_cases, write_junit
from llmbench.slo import evaluate, format_table, parse_slos

CASES = [
    JUnitCase("ttft_p95<=500ms", "llmbench.slo", passed=True, message="ok", time_s=0.25),
    JUnitCase("error_rate<=1%", "llmbench.slo", passed=False, message="measured 0.03"),
    JUnitCase("itl_p99", "llmbench.compare", passed=True, message="no value", skipped=True),
]


def parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)


def test_counts_and_structure() -> None:
    data = build_junit("llmbench run", CASES)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = parse(data)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    for el in (root, suite):
        attrs = {k: el.get(k) for k in ("name", "tests", "failures", "errors", "skipped")}
        assert attrs == {
            "name": "llmbench run",
            "tests": "3",
            "failures": "1",
            "errors": "0",
            "skipped": "1",
        }
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("classname")) for c in cases] == [
        (case.name, case.classname) for case in CASES
    ]
    assert cases[0].get("time") == "0.250"
    assert list(cases[0]) == []
    [failure] = list(cases[1])
    assert (failure.tag, failure.get("message"), failure.text) == (
        "failure",
        "measured 0.03",
        "measured 0.03",
    )
    [skipped] = list(cases[2])
    assert (skipped.tag, skipped.get("message")) == ("skipped", "no value")


def test_no_cases_is_still_a_valid_suite() -> None:
    suite = parse(build_junit("empty", [])).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), len(suite)) == ("0", "0", 0)


def test_markup_in_any_field_round_trips() -> None:
    nasty = """</script><script>alert("x")</script> & 'q' <![CDATA[ ]]> ]]> <!-- -->"""
    case = JUnitCase(nasty, nasty, passed=False, message=nasty)
    root = parse(build_junit(nasty, [case]))
    [suite] = root
    [testcase] = suite
    [failure] = testcase
    assert root.get("name") == suite.get("name") == nasty
    assert testcase.get("name") == testcase.get("classname") == nasty
    assert failure.get("message") == failure.text == nasty


def test_newlines_and_unicode_survive() -> None:
    message = "line one\nline two\ttabbed\r\nüñí 中文 🚀"
    root = parse(build_junit("s", [JUnitCase("n", "c", passed=False, message=message)]))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == message  # attributes keep \r, \n and \t as references
    assert failure.text == message.replace("\r\n", "\n")  # XML parsers normalise text EOLs


def test_characters_xml_cannot_hold_become_visible_escapes() -> None:
    message = "a\x00b\x1b[31mred\x08\x0b\x0c\ud800\ufffe\uffffz\x7f"
    data = build_junit("s\x01", [JUnitCase("n\x02", "c", passed=False, message=message)])
    root = parse(data)  # would raise on any raw control character
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    expected = "a\\x00b\\x1b[31mred\\x08\\x0b\\x0c\\ud800\\ufffe\\uffffz\x7f"
    assert failure.text == expected
    assert failure.get("message") == expected
    assert root.get("name") == "s\\x01"
    testcase = root.find("testsuite/testcase")
    assert testcase is not None
    assert testcase.get("name") == "n\\x02"


def test_write_junit_creates_parents_and_parses(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "deep" / "junit.xml"
    write_junit(path, "llmbench", CASES)
    root = ET.parse(path).getroot()
    assert root.get("failures") == "1"
    assert len(root.findall("testsuite/testcase")) == 3


def test_slo_cases() -> None:
    checks = parse_slos(["ttft_p95<=500ms,error_rate<=1%,itl_p99<=1s"])
    summary = {
        "requests": {"total": 100, "failed": 3},
        "ttft_ms": {"p95": 412.5},
        "itl_ms": None,
    }
    cases = slo_cases(evaluate(checks, summary))
    assert [(c.name, c.classname, c.passed) for c in cases] == [
        ("ttft_p95<=500ms", "llmbench.slo", True),
        ("error_rate<=1%", "llmbench.slo", False),
        ("itl_p99<=1s", "llmbench.slo", False),
    ]
    assert cases[0].message == "ttft_p95: measured 412.5 ms, required <= 500 ms"
    assert cases[1].message == "error_rate: measured 3 %, required <= 1 %"
    assert cases[2].message == "itl_p99: measured no value, required <= 1,000 ms"
    root = parse(build_junit("slo", cases))
    assert (root.get("tests"), root.get("failures")) == ("3", "2")


def test_slo_fractions_read_as_the_console_prints_them() -> None:
    """JUnit said "measured 0.691964 fraction" where the console said 69.2 %."""
    results = evaluate(
        parse_slos(["goodput_ratio>=95%", "error_rate<=0.5%"]),
        {"requests": {"total": 1000, "failed": 1}, "goodput": {"ratio": 0.691964}},
    )
    messages = [case.message for case in slo_cases(results)]
    assert messages == [
        "goodput_ratio: measured 69.2 %, required >= 95 %",
        "error_rate: measured 0.1 %, required <= 0.5 %",
    ]
    console = format_table(results)
    assert "69.2 %" in console
    assert ">= 95 %" in console
