"""`scripts/bootstrap` installs outaged without a wall of setuptools warnings (issue 7 §8).

The same editable install bootstrap runs (`pip install -e .`), into a fresh
virtualenv, with pip's normal build isolation (setuptools from PyPI, as on a
fresh machine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.daemon import REPO


def test_the_editable_install_prints_no_warnings(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    done = subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--disable-pip-version-check", "-e", str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "deprecated" not in done.stderr, done.stderr
    assert done.stdout == "", done.stdout
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import outaged; print(outaged.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == str(REPO / "outaged" / "__init__.py")
