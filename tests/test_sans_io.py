"""STYLE.md rule 1: the cores are sans-IO. Walk their imports (ast) and those of the
llmbench modules they pull in, and assert none reaches the event loop, the network
or a clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import llmbench

PACKAGE = Path(llmbench.__file__).parent
CORES = sorted(
    [
        "sse.py",
        "lines.py",
        "events.py",
        "schedule.py",
        "metrics.py",
        "selfcheck.py",
        "exchange.py",
        "http/h1.py",
        "result.py",
        *(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "providers").glob("*.py")),
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


@pytest.mark.parametrize("rel", CORES)
def test_core_imports_no_io(rel: str) -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path, names in reachable(PACKAGE / rel).items()
        for name in names
        if name.split(".")[0] in FORBIDDEN
    }
    assert offenders == set()


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
