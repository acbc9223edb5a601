"""`lenskit doctor` beside an installed LensKit 2025.8.1, in either install order.

LensKit ships its own `lenskit` script (``lenskit.cli:main``) with a doctor, and loads
subcommands from the entry-point group ``lenskit.cli.plugins``. Whichever package is
installed last owns the script file, so both orders are installed for real with pip into
a throw-away virtual environment that sees this environment's packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import BIN

import lkdoctor.cli
from lkdoctor.cli import lenskit

ROOT = Path(__file__).resolve().parents[2]
LENSKIT_VERSION = metadata.version("lenskit")
# GitHub variables must not leak from a CI runner into the commands run here.
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if k not in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
}


def run(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        timeout=timeout,
        check=False,
    )


def checked(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = run(*args)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def assert_doctor_is_ours(lenskit_script: Path) -> None:
    report = run(lenskit_script, "doctor", "--no-bench", "--format", "json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)  # only our JSON on stdout, whoever dispatched
    assert data["tool"]["name"] == "lkdoctor"
    assert data["cpu"]["effective"] >= 1


def assert_lenskit_version_works(lenskit_script: Path) -> None:
    version = run(lenskit_script, "version")
    assert version.returncode == 0, version.stderr
    # LensKit prints it on its (stderr) console
    assert f"LensKit version {LENSKIT_VERSION}" in version.stdout + version.stderr


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """lkdoctor built from this tree, and the LensKit release installed here."""
    out = tmp_path_factory.mktemp("wheels")
    if built := os.environ.get("LKDOCTOR_WHEEL"):  # scripts/test.sh built it already
        shutil.copy(built, out)
    else:
        checked(
            BIN / "maturin", "build", "--release", "--quiet", "-m", ROOT / "Cargo.toml", "-o", out
        )
    checked(
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", out,
        f"lenskit=={LENSKIT_VERSION}",
    )  # fmt: skip
    (lkdoctor_wheel,) = out.glob("lkdoctor-*.whl")
    (lenskit_wheel,) = out.glob("lenskit-*.whl")
    return {"lkdoctor": lkdoctor_wheel, "lenskit": lenskit_wheel}


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """An empty venv whose dependencies come from this one (a .pth adds its site-packages)."""
    path = tmp_path / "venv"
    checked(sys.executable, "-m", "venv", "--without-pip", path)
    purelib = Path(
        checked(path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        .stdout.strip()
    )  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    (purelib / "_lkdoctor_test_deps.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return path


def pip_install(venv: Path, wheel: Path) -> None:
    checked(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
        "--quiet", "--no-deps", "--force-reinstall", "--no-index", wheel,
    )  # fmt: skip


def test_lenskit_doctor_is_ours_in_either_install_order(
    venv: Path, wheels: dict[str, Path]
) -> None:
    script = venv / "bin" / "lenskit"

    # lkdoctor first, LensKit last: LensKit's script, our doctor through its plugin group
    pip_install(venv, wheels["lkdoctor"])
    pip_install(venv, wheels["lenskit"])
    assert "from lenskit.cli import main" in script.read_text()
    assert_doctor_is_ours(script)
    assert_lenskit_version_works(script)
    # our usage errors stay one line under LensKit's group too
    usage = run(script, "doctor", "--format", "bogus")
    assert usage.returncode == 2
    assert usage.stderr.strip().endswith("is not one of 'text', 'json', 'markdown'.")
    assert "Traceback" not in usage.stderr

    # LensKit first, lkdoctor last: our script, LensKit's commands through delegation
    pip_install(venv, wheels["lkdoctor"])
    assert "from lkdoctor.cli import lenskit_main" in script.read_text()
    assert_doctor_is_ours(script)
    assert_lenskit_version_works(script)
    listing = run(script, "--help")  # LensKit's full command list, our doctor in it
    assert listing.returncode == 0
    for command in ("doctor", "version", "config", "train"):
        assert command in listing.stdout


PLUGIN_ORDER_PROBE = """
import importlib.metadata as md, sys
real = md.entry_points
def reordered(**kwargs):
    eps = real(**kwargs)
    if kwargs.get("group") == "lenskit.cli.plugins":
        return md.EntryPoints(sorted(eps, key=lambda e: e.name, reverse=sys.argv[1] == "reverse"))
    return eps
md.entry_points = reordered
import lenskit.cli
doctor = lenskit.cli.lenskit.commands["doctor"]
print(doctor.callback.__module__)
"""


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_lenskit_group_gets_our_doctor_whatever_the_plugin_order(order: str) -> None:
    # forward loads LensKit's doctor first, reverse loads ours first
    result = checked(sys.executable, "-c", PLUGIN_ORDER_PROBE, order)
    assert result.stdout.strip().splitlines()[-1] == "lkdoctor.cli"


def test_without_lenskit_our_group_reports_unknown_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lkdoctor.cli, "find_spec", lambda name: None)
    monkeypatch.setattr(sys, "argv", ["lenskit", "version"])
    with pytest.raises(SystemExit) as exit_info:
        lkdoctor.cli.lenskit_main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such command 'version'" in err


def test_our_group_runs_doctor_without_lenskit() -> None:
    result = CliRunner().invoke(lenskit, ["doctor", "--json-schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"].startswith("lkdoctor report")
