"""The built wheel installs one top-level package, `stackledger`, and nothing else.

Generic names such as `transforms`, `reports` and `collectors` belong to other PyPI
distributions; installed beside ours in a shared environment (an Airflow worker) they used to
overwrite our modules. This builds the real wheel, installs it into a fresh virtualenv with the
locked dependencies, installs those three PyPI distributions beside it, and runs
`stackledger demo` there.

`collectors` 1.0 cannot be built by any current setuptools (its setup.py fails), so the newest
installable release, 0.1, stands in for it; `transforms` and `reports` are their newest releases.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import REPO

OTHER_DISTRIBUTIONS = ("transforms", "reports", "collectors<1")
DEMO_TOTAL = Decimal("2848.41")  # the demo month's grand total (README)


def uv() -> str:
    path = shutil.which("uv")
    if path is None:
        pytest.fail("uv is not on PATH: ops/venv.sh installs it")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    scratch = REPO / "build"  # setuptools' working folder inside the checkout
    existed = scratch.exists()
    try:
        subprocess.run([uv(), "build", "--wheel", "--out-dir", str(out), str(REPO)], check=True, capture_output=True)
    finally:
        if not existed:
            shutil.rmtree(scratch, ignore_errors=True)
    (built,) = out.glob("stackledger-*.whl")
    return built


def top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    return {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith((".dist-info", ".data"))}


def test_the_wheel_holds_only_the_stackledger_package_with_its_data(wheel: Path) -> None:
    assert top_level_names(wheel) == {"stackledger"}
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for data in (
        "stackledger/transforms/pricebooks/aws.csv",
        "stackledger/reports/templates/monthly.html.j2",
        "stackledger/alarms/rules.example.yaml",
        "stackledger/data/rate_card.example.yaml",
    ):
        assert data in names, f"{data} is missing from the wheel"
    assert not any(name.startswith(("collectors/", "transforms/", "reports/", "alarms/")) for name in names)


def test_pypi_namesakes_installed_beside_the_wheel_leave_the_demo_working(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([uv(), "venv", "-q", "--python", "3.11", str(venv)], check=True)
    install = [uv(), "pip", "install", "-q", "--python", str(python)]
    subprocess.run([*install, "-r", str(REPO / "requirements" / "lock.txt"), str(wheel)], check=True)
    subprocess.run([*install, *OTHER_DISTRIBUTIONS], check=True)
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())  # fmt: skip
    for name in ("transforms", "reports", "collectors"):
        assert (site / name / "__init__.py").is_file(), f"PyPI's {name} is not installed as a top-level package"

    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLEDGER")}
    out = tmp_path / "out"
    # Run from an empty folder so nothing of the checkout is importable: only what is installed.
    result = subprocess.run([str(venv / "bin" / "stackledger"), "demo", "--out", str(out)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"grand total \S+ \(internal rate card\): (\w{3}) ([\d,]+\.\d\d)", result.stdout)
    assert match, result.stdout
    assert (match.group(1), Decimal(match.group(2).replace(",", ""))) == ("EUR", DEMO_TOTAL)
    assert sorted(p.name for p in out.glob("*.pdf")) == ["stackledger-2026-10-summary.pdf"]
