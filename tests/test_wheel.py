"""relayq as a user installs it: the sdist and the wheel build (the wheel from the
sdist, so the sdist is complete), the wheel installs into a fresh virtualenv, and
from a directory outside the checkout ``relayq demo`` runs and a user's own
worker makes a round trip against a real Redis.

Needs the package index (or pip's cache) for the build backend and relayq's
dependencies, as any ``pip install`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

import sdk

pytestmark = pytest.mark.timeout(600)


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _clean_env() -> dict[str, str]:
    """The environment without anything that would import this checkout instead."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REDIS_URL")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build``: the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(repo_root)],
        cwd=out,
        env=_clean_env(),
    )
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with only the built wheel (and its dependencies) installed."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(root)], cwd=root, env=_clean_env())
    [wheel] = dist.glob("*.whl")
    _run([str(root / "bin" / "pip"), "install", "-q", str(wheel)], cwd=root, env=_clean_env())
    yield root


def test_the_sdist_and_the_wheel_carry_what_relayq_needs(dist: Path) -> None:
    [wheel] = dist.glob("relayq-*.whl")
    [sdist] = dist.glob("relayq-*.tar.gz")
    assert wheel.name.startswith(f"relayq-{sdk.__version__}-py3-none-any")
    assert sdist.name == f"relayq-{sdk.__version__}.tar.gz"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    for needed in (
        "sdk/py.typed",
        "sdk/_lua/_prelude.lua",
        "sdk/_lua/fetch.lua",
        "sdk/examples/app.py",
        "sdk/worker/_cli.py",
    ):
        assert needed in names, f"{needed} is missing from the wheel"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "examples/", "benchmarks/")) for n in names)
    assert meta["Version"] == sdk.__version__
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Framework :: AsyncIO" in classifiers
    assert any(url.startswith("Changelog") for url in meta.get_all("Project-URL") or [])


def test_relayq_demo_runs_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    """Anywhere, with a throwaway redis-server the demo starts itself."""
    out = _run(
        [str(venv / "bin" / "relayq"), "demo", "--tasks", "200"],
        cwd=tmp_path,
        env=_clean_env(),
        timeout=120,
    )
    assert "add(2, 3)" in out and "-> 5 (int)" in out
    assert "throughput: 200 no-op tasks" in out
    assert "the throwaway Redis is gone" in out


def test_a_users_worker_round_trips_from_the_installed_wheel(
    venv: Path, tmp_path: Path, redis_url: str, queue_name: str
) -> None:
    (tmp_path / "shop.py").write_text(
        textwrap.dedent(
            f"""
            import asyncio
            import sdk
            from sdk import Worker, WrappedContext

            worker = Worker({redis_url!r}, queue_name={queue_name!r})

            @worker.task()
            async def total(ctx: WrappedContext[None], prices: list[float]) -> float:
                return sum(prices)

            async def main() -> None:
                async with worker.running():
                    print("result", await total.enqueue([1.5, 2.5]).result(timeout=10))
                print("from", sdk.__file__)

            asyncio.run(main())
            """
        )
    )
    out = _run([str(venv / "bin" / "python"), "shop.py"], cwd=tmp_path, env=_clean_env())
    assert "result 4.0" in out
    imported_from = out.split("from ", 1)[1].strip()
    assert imported_from.startswith(str(venv)), f"sdk came from {imported_from}, not the wheel"


def test_the_public_api_is_fully_typed_for_pyright(venv: Path, tmp_path: Path) -> None:
    """``pyright --verifytypes sdk`` on the installed wheel: every public symbol has
    a known type (what pyright users, VS Code's Pylance among them, see)."""
    env = _clean_env()
    env["VIRTUAL_ENV"] = str(venv)  # pyright finds the interpreter (and sdk) on PATH
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    _run([str(venv / "bin" / "pip"), "install", "-q", "basedpyright"], cwd=tmp_path, env=env)
    proc = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "basedpyright",
            "--verifytypes",
            "sdk",
            "--ignoreexternal",
            "--outputjson",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    completeness = report["typeCompleteness"]
    assert completeness["moduleRootDirectory"].startswith(str(venv)), completeness
    problems = [d["message"] for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert completeness["completenessScore"] == 1.0, problems[:20]
    assert proc.returncode == 0, problems[:20]
