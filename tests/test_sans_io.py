"""STYLE.md rule 1: the cores are sans-IO. Walk their imports (ast) and those of the
llmbench modules they pull in, and assert none reaches the event loop, the network,
a clock or ``urllib.request``. Then walk each core's own code and assert it reads no
environment variable (``os.environ``, ``os.getenv``), opens no file (``open()``) and
touches no path (``Path.read_text``, ``.exists()``, ...): the edge
(``llmbench.environment``, the CLI/app layer) reads those and hands the values in.

A new pure module joins by adding its path to CORES."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llmbench

PACKAGE = Path(llmbench.__file__).parent
CORES = sorted(
    [
        "caps.py",
        "config.py",
        "content_type.py",
        "error_body.py",
        "events.py",
        "exchange.py",
        "framing.py",
        "http/deadlines.py",
        "http/response.py",
        "lines.py",
        "measured.py",
        "measured_json.py",
        "metric_defs.py",
        "metrics.py",
        "mock/capacity.py",
        "output/server_report.py",
        "output/server_summary.py",
        "overload.py",
        "prefixes.py",
        "prompt_text.py",
        "redaction.py",
        "result.py",
        "retry.py",
        "schedule.py",
        "selfcheck.py",
        "server_families.py",
        "server_parse.py",
        "server_series.py",
        "shard_merge.py",
        "sharding.py",
        "slo.py",
        "sse.py",
        "sweep_search.py",
        "sweep_steps.py",
        "synthetic.py",
        "tokenizer_lookup.py",
        "trace_parse.py",
        "usage.py",
        *(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "providers").glob("*.py")),
    ]
)
FORBIDDEN = {
    "asyncio",
    "anyio",
    "httpx",
    "httpcore",
    "socket",
    "ssl",
    "selectors",
    "time",
    "trio",
    "uvloop",
}
# Modules forbidden by their full name: urllib.parse is string arithmetic, these are not.
FORBIDDEN_MODULES = {"urllib.request", "urllib.response", "urllib.robotparser", "http.client"}

# What a pure module's own code may not do (see io_reads).
_OS_IO = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv", "listdir", "scandir"}
_OS_IO |= {"getcwd", "stat", "open", "fdopen", "read", "walk"}
_URLLIB_IO = {"request", "response", "robotparser"}
# Path (and os.path) methods that touch the filesystem, reading or writing.
_PATH_IO = {"read_text", "read_bytes", "write_text", "write_bytes", "open", "exists"}
_PATH_IO |= {"is_file", "is_dir", "is_symlink", "is_mount", "iterdir", "glob", "rglob"}
_PATH_IO |= {"stat", "lstat", "resolve", "readlink", "samefile", "expanduser", "home", "cwd"}
_PATH_IO |= {"touch", "mkdir", "unlink", "rmdir", "getsize", "getmtime", "find_spec"}


def forbidden_import(name: str) -> bool:
    """Whether importing module ``name`` (absolute) brings I/O or a clock."""
    if name.split(".")[0] in FORBIDDEN:
        return True
    return any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)


def io_reads(path: Path) -> set[str]:
    """What ``path``'s own code reads from or writes to the world, as ``line: what``:
    ``os.environ``/``os.getenv`` (and ``from os import environ``), ``urllib.request``
    reached as an attribute, a builtin ``open(...)`` call, and calls of Path/os.path
    methods that touch the filesystem. An AST walk: any object's ``.exists()`` or
    ``.open()`` counts, which is the point (a pure module has no files to ask)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        what = _io_of(node)
        if what is not None:
            found.add(f"{getattr(node, 'lineno', 0)}: {what}")
    return found


def _io_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = node.value.id
        if (owner == "os" and node.attr in _OS_IO) or (
            owner == "urllib" and node.attr in _URLLIB_IO
        ):
            return f"{owner}.{node.attr}"
    if isinstance(node, ast.ImportFrom) and node.module == "os" and node.level == 0:
        names = [a.name for a in node.names if a.name in _OS_IO or a.name == "*"]
        if names:
            return f"from os import {', '.join(names)}"
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            return "open()"
        if isinstance(func, ast.Attribute) and func.attr in _PATH_IO:
            return f".{func.attr}()"
    return None


def package_of(path: Path) -> str:
    return ".".join(("llmbench", *path.relative_to(PACKAGE).parent.parts))


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports, wherever the import sits;
    ``package`` is the file's package, for relative imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def module_path(name: str) -> Path | None:
    """The source file of llmbench module ``name``, or None for anything else."""
    if name != "llmbench" and not name.startswith("llmbench."):
        return None
    rel = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable(start: Path) -> dict[Path, set[str]]:
    """Every llmbench source file ``start`` imports, transitively, with its imports."""
    seen: dict[Path, set[str]] = {}
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = imported_modules(path, package_of(path))
        todo.extend(p for name in seen[path] if (p := module_path(name)) is not None)
    return seen


def test_the_cores_exist() -> None:
    for rel in CORES:
        assert (PACKAGE / rel).is_file(), rel
    assert "providers/openai.py" in CORES
    assert "providers/base.py" in CORES
    assert {"config.py", "redaction.py", "providers/template_spec.py"} <= set(CORES)


@pytest.mark.parametrize("rel", CORES)
def test_core_imports_no_io(rel: str) -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path, names in reachable(PACKAGE / rel).items()
        for name in names
        if forbidden_import(name)
    }
    assert offenders == set()


@pytest.mark.parametrize("rel", CORES)
def test_core_reads_no_environment_and_no_files(rel: str) -> None:
    assert io_reads(PACKAGE / rel) == set()


def test_the_walker_sees_every_import_form(tmp_path: Path) -> None:
    # The check must be able to fail: a file with each import form is caught.
    for i, line in enumerate(
        [
            "import time",
            "import asyncio.tasks",
            "from socket import socket",
            "def f():\n    import httpx\n",
            "if True:\n    from anyio import sleep\n",
        ]
    ):
        path = tmp_path / f"m{i}.py"
        path.write_text(line + "\n", encoding="utf-8")
        names = imported_modules(path, "llmbench.providers")
        assert {n.split(".")[0] for n in names} & FORBIDDEN, line


@pytest.mark.parametrize(
    "line",
    [
        "import urllib.request",
        "from urllib.request import getproxies",
        "from urllib import request",
        "def f():\n    import urllib.response\n",
        "import http.client",
    ],
)
def test_the_walker_catches_urllib_request(tmp_path: Path, line: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(line + "\n", encoding="utf-8")
    names = imported_modules(path, "llmbench")
    assert any(forbidden_import(n) for n in names), line


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("import os\nX = os.environ['HOME']\n", "os.environ"),
        ("import os\nX = os.environ.get('HOME')\n", "os.environ"),
        ("import os\ndef f():\n    return os.getenv('HOME')\n", "os.getenv"),
        ("from os import environ\n", "from os import environ"),
        ("from os import getenv as g\n", "from os import getenv"),
        ("import urllib\nP = urllib.request.getproxies()\n", "urllib.request"),
        ("def f(p):\n    with open(p) as fh:\n        return fh.read()\n", "open()"),
        ("T = open('x', encoding='utf-8').read()\n", "open()"),
        ("from pathlib import Path\nT = Path('x').read_text()\n", ".read_text()"),
        ("def f(path):\n    return path.read_bytes()\n", ".read_bytes()"),
        ("def f(path):\n    return path.open('rb')\n", ".open()"),
        ("def f(path):\n    return path.exists()\n", ".exists()"),
        ("def f(path):\n    return path.is_file()\n", ".is_file()"),
        ("def f(path):\n    return path.is_dir()\n", ".is_dir()"),
        ("def f(path):\n    return list(path.iterdir())\n", ".iterdir()"),
        ("import os.path\nX = os.path.exists('x')\n", ".exists()"),
        ("import importlib.util\nX = importlib.util.find_spec('h2')\n", ".find_spec()"),
    ],
)
def test_the_read_check_catches_each_kind(tmp_path: Path, source: str, what: str) -> None:
    # Each new check must be able to fail: a file doing that one thing is caught.
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert any(found.endswith(": " + what) for found in io_reads(path)), io_reads(path)


def test_the_read_check_lets_pure_code_through(tmp_path: Path) -> None:
    # What the cores do all the time must not trip it: str.replace, re's match.group,
    # urllib.parse, a Path as a value, an injected reader, a mapping called environ.
    source = (
        "import re\nfrom pathlib import Path\nfrom urllib import parse\n"
        "from urllib.parse import urlsplit\n"
        "def f(text, m, sources):\n"
        "    p = Path(text)\n"
        "    m.group(1)\n"
        "    sources.environ.get('X')\n"
        "    sources.read_file(p)\n"
        "    return text.replace('a', 'b'), urlsplit(text), parse.quote(text), p.name\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert io_reads(path) == set()
    assert not any(forbidden_import(n) for n in imported_modules(path, "llmbench"))


def test_relative_imports_resolve(tmp_path: Path) -> None:
    path = tmp_path / "rel.py"
    path.write_text("from . import base\nfrom ..sse import SSEParser\nfrom .. import x\n")
    assert imported_modules(path, "llmbench.providers") == {
        "llmbench.providers",
        "llmbench.providers.base",
        "llmbench.sse",
        "llmbench.sse.SSEParser",
        "llmbench",
        "llmbench.x",
    }
    assert module_path("llmbench.providers.base") == PACKAGE / "providers" / "base.py"
    assert module_path("llmbench.http") == PACKAGE / "http" / "__init__.py"
    assert module_path("orjson") is None
    files = {p.relative_to(PACKAGE).as_posix() for p in reachable(PACKAGE / "exchange.py")}
    assert {"exchange.py", "sse.py", "lines.py", "providers/base.py", "result.py"} <= files
