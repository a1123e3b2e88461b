"""The package a user installs: a wheel and an sdist built from this checkout (`python -m
build`), the wheel installed into a clean virtual environment (nothing of this checkout on its
path), and `grantledger serve` from it answering — migrations, console templates, static files
and the offline `/docs` all shipped inside."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import venv
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (
    "grantledger/store/migrations/env.py",
    "grantledger/store/migrations/script.py.mako",
    "grantledger/store/migrations/versions/0001_credits_ledger.py",
    "grantledger/console/templates/",
    "grantledger/console/static/console.css",
    "grantledger/py.typed",
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def test_the_sdist_carries_what_the_wheel_is_built_from(dist: Path) -> None:
    [sdist] = dist.glob("grantledger-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    for shipped in SHIPPED:
        assert any(f"/src/{shipped}" in n for n in names), shipped
    assert any(n.endswith("/README.md") for n in names)


def test_the_wheel_installs_into_a_clean_environment_and_serves(dist: Path, tmp_path: Path) -> None:
    [wheel] = dist.glob("grantledger-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    # Nothing of the checkout: the environment's own copy is the one that runs.
    where = subprocess.run(
        [str(python), "-c", "import grantledger; print(grantledger.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert str(env_dir) in where.stdout and str(ROOT) not in where.stdout

    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GRANTLEDGER_", "COV"))}
    clean |= {
        "GRANTLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'grantledger.db'}",
        "GRANTLEDGER_BOOTSTRAP_KEY": "gl_packagetest_0123456789abcdefghij",
        "PYTHONPATH": "",
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(env_dir / "bin" / "grantledger"), "serve", "--port", str(port)],
        env=clean,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        auth = {"Authorization": "Bearer gl_packagetest_0123456789abcdefghij"}
        made = httpx.post(
            base + "/customers",
            headers=auth,
            json={
                "id": "cust",
                "name": "Customer",
                "primaryEmail": "c@example.test",
                "address": {"country": "US"},
                "account": {"id": "acct", "name": "Account"},
            },
        )
        assert made.status_code == 201, made.text
        signin = httpx.get(base + "/console/")
        assert signin.status_code == 200 and "apiKey" in signin.text  # a template rendered
        css = httpx.get(base + "/console/static/console.css")
        assert css.status_code == 200 and "{" in css.text
        assert httpx.get(base + "/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
