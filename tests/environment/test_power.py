"""``--power``: LensKit's own power measurement (2026.x and 2025.8 alike), against a Prometheus HTTP API on this
machine that answers LensKit's queries in Prometheus's own response format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from helpers import run_cli

from lkdoctor.environment.power import collect_power
from lkdoctor.render import power_words

#: What this Prometheus answers for each query LensKit sends: joules over the window.
ANSWERS = {"system_energy": "4500.5", "gpu_energy": None}


class _Prometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)["query"][0]
        value = ANSWERS.get(query.split("{", 1)[0])
        result = [] if value is None else [{"metric": {}, "value": [1765000000.0, value]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200 if url.path == "/api/v1/query" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _project(tmp_path: Path, settings: str) -> Path:
    (tmp_path / "lenskit.toml").write_text(settings)
    return tmp_path


def test_measured_by_lenskits_own_function(tmp_path: Path, prometheus: str) -> None:
    root = _project(
        tmp_path,
        f'machine = "box"\n[prometheus]\nurl = "{prometheus}"\n'
        "[machines.box.power_queries]\n"
        'system = "system_energy{{machine=\\"{machine}\\"}}[{elapsed}ms]"\n'
        'gpu = "gpu_energy{{machine=\\"{machine}\\"}}"\n',
    )
    power = collect_power(root)
    assert power.status == "measured" and power.machine == "box"
    assert power.window_seconds == 60
    by_scope = {r.scope: r for r in power.readings}
    assert by_scope["system"].configured and by_scope["system"].joules == 4500.5
    assert by_scope["gpu"].configured and by_scope["gpu"].joules is None  # no result
    assert not by_scope["cpu"].configured
    assert power_words(power) == (
        "Machine box: System power 4.50 kJ (in last 60s), CPU power not configured, "
        "GPU power no result"
    )


def test_no_machine_configured_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")  # LensKit's search stops here
    power = collect_power(tmp_path)
    assert power.status == "no-machine"
    assert power_words(power) == "No machine configured (see https://lenskit.org/q/power)"


def test_a_machine_without_settings_is_named(tmp_path: Path) -> None:
    power = collect_power(_project(tmp_path, 'machine = "elsewhere"\n'))
    assert power.status == "machine-not-configured" and power.machine == "elsewhere"
    assert "Machine elsewhere is not configured" in power_words(power)


def test_a_hanging_measurement_is_cut_off(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="did not answer"):
        collect_power(tmp_path, timeout=0.01)


def test_power_option_end_to_end(tmp_path: Path, prometheus: str) -> None:
    """``lenskit doctor --power -R DIR``: in the JSON and in the text, as LensKit words it."""
    root = _project(
        tmp_path,
        f'machine = "box"\n[prometheus]\nurl = "{prometheus}"\n'
        "[machines.box.power_queries]\n"
        'system = "system_energy{{machine=\\"{machine}\\"}}[{elapsed}ms]"\n',
    )
    args = ("lkdoctor", "--no-bench", "--power", "-R", str(root))
    done = run_cli(*args, "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    power = json.loads(done.stdout)["environment"]["compute"]["power"]
    assert power["status"] == "measured" and power["readings"][0]["joules"] == 4500.5
    text = run_cli(*args, add_env={"COLUMNS": "200"}, timeout=600)
    assert "Power Machine box: System power 4.50 kJ (in last 60s)" in text.stdout
    without = run_cli("lkdoctor", "--no-bench", "--json", "-R", str(root), timeout=600)
    assert json.loads(without.stdout)["environment"]["compute"]["power"] is None  # opt-in
