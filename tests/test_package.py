"""The wheel ships its templates and static files."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_installs_into_a_fresh_venv_with_templates_and_static(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("flask_kroncases-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "flask_kroncases" / "templates").rglob("*.html"):
        assert template.relative_to(ROOT).as_posix() in names
    for static in (ROOT / "flask_kroncases" / "static").rglob("*.*"):
        assert static.relative_to(ROOT).as_posix() in names
    assert "flask_kroncases/py.typed" in names
    assert not any(name.startswith(("tests/", "examples/")) for name in names)

    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    installed = Path(site) / "flask_kroncases"
    assert (installed / "templates" / "kroncases" / "_panel.html").is_file()
    assert (installed / "static" / "kroncases" / "kroncases.css").is_file()
