"""config/prometheus and config/grafana against promtool, a running daemon and a real Prometheus.

- promtool checks the rules and the example scrape config and runs the rules' unit tests, in which
  every alert fires at least once;
- every metric the dashboard and the rules query is one a running `visord run` exports, read from
  its /metrics page;
- Debian's Prometheus, on 127.0.0.1 with the example config pointed at that daemon, gets its
  series, evaluates every rule without error, and runs every dashboard query without error.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse

import pytest
import yaml

from visord.testing.daemon_process import DaemonProcess, fetch
from visord.testing.rtsp_server import free_port
from visord.testing.systemd_unit import ROOT
from visord.testing.wait import wait_for

PROMETHEUS_DIR = ROOT / "config" / "prometheus"
RULES = PROMETHEUS_DIR / "visord-rules.yml"
DASHBOARD = ROOT / "config" / "grafana" / "visord-dashboard.json"
PROMTOOL, PROMETHEUS = shutil.which("promtool"), shutil.which("prometheus")

METRIC_NAME = re.compile(r"\b(?:visord|process)_[A-Za-z0-9_:]*")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
GRAFANA_VARIABLES = {
    "$__rate_interval": "10s",
    "$__range": "1m",
    "$instance": ".*",
    "$stream": ".*",
}

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool (Debian's prometheus; `make test`)"
)


def metric_names(query: str) -> set[str]:
    return set(METRIC_NAME.findall(query))


def exported_names(exposition: str) -> set[str]:
    """Every series name a /metrics page can carry, from its # TYPE lines (histograms as
    _bucket/_sum/_count)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names |= {name + suffix for suffix in SUFFIXES.get(kind, ("",))}
    return names


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: panel targets, variables, annotations."""
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            found.extend(
                value for key, value in node.items() if key in ("expr", "definition") and value
            )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text()))
    return found


def rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with DaemonProcess.tiny(tmp_path_factory.mktemp("daemon")) as process:
        process.wait_classified()
        yield process


# -- promtool


@needs_promtool
def test_the_rules_and_the_example_scrape_config_pass_promtool_check():
    for command in (
        ["check", "rules", str(RULES)],
        ["check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
    ):
        result = subprocess.run([PROMTOOL, *command], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_every_alert_fires_in_the_rule_unit_tests():
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "visord-rules.test.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cases = [
        case
        for test in yaml.safe_load((PROMETHEUS_DIR / "visord-rules.test.yml").read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    assert {case["alertname"] for case in cases if case["exp_alerts"]} == {
        rule["alert"] for rule in rules()
    }
    assert any(not case["exp_alerts"] for case in cases)  # and some look-alike does not fire


# -- metric names


def test_metric_names_are_read_from_promql():
    rate = 'rate(visord_inference_seconds_bucket{job="visord"}[5m])'
    query = f"histogram_quantile(0.95, sum by (le) ({rate}))"
    assert metric_names(query) == {"visord_inference_seconds_bucket"}
    assert exported_names("# TYPE visord_x_seconds histogram\n# TYPE visord_y_total counter\n") == {
        "visord_x_seconds_bucket",
        "visord_x_seconds_sum",
        "visord_x_seconds_count",
        "visord_y_total",
    }


def test_the_dashboard_and_the_rules_query_only_metrics_the_daemon_exports(daemon):
    exported = exported_names(daemon.metrics())
    referenced = set().union(
        *map(metric_names, dashboard_queries() + [rule["expr"] for rule in rules()])
    )
    assert {
        "visord_frames_classified_total",
        "visord_inference_seconds_bucket",
        "visord_stream_up",
    } <= referenced
    assert {"visord_router_degraded", "visord_stream_mode"} <= referenced  # the router's, too
    assert sorted(referenced - exported) == []


def test_the_dashboard_panels_each_query_and_do_not_overlap():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(
        panel["targets"] and all(target["expr"] for target in panel["targets"]) for panel in panels
    )
    cells = [
        (panel["gridPos"]["x"] + dx, panel["gridPos"]["y"] + dy)
        for panel in dashboard["panels"]
        for dx in range(panel["gridPos"]["w"])
        for dy in range(panel["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)) and all(x < 24 for x, _ in cells)


# -- a real Prometheus


def prometheus_config(daemon_port: int) -> dict:
    """The example config, scraping and evaluating every second, pointed at the test's daemon."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{daemon_port}"]}]
    return config


def as_promql(expr: str) -> str:
    """A dashboard expression as Grafana would send it: variables filled in, `label_values(SELECTOR,
    LABEL)`
    (a Grafana function) as its selector."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return re.sub(r"^label_values\((.*), *\w+\)$", r"\1", expr)


def query(port: int, expr: str) -> list[dict]:
    status, body = fetch(port, "/api/v1/query?query=" + urllib.parse.quote(expr))
    assert status == 200, f"{expr}: {body}"
    return json.loads(body)["data"]["result"]


def rule_health(port: int) -> dict[str, str]:
    status, body = fetch(port, "/api/v1/rules")
    groups = json.loads(body)["data"]["groups"] if status == 200 else []
    return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}


@pytest.mark.skipif(
    PROMETHEUS is None, reason="needs prometheus (Debian's package; `make test` installs it)"
)
def test_a_real_prometheus_scrapes_the_daemon_and_runs_the_rules_and_dashboard(daemon, tmp_path):
    config, port = tmp_path / "prometheus.yml", free_port()
    config.write_text(yaml.safe_dump(prometheus_config(daemon.port)))
    command = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with open(tmp_path / "prometheus.log", "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: fetch(port, "/-/ready")[0] == 200, timeout=60, what="Prometheus ready")
        wait_for(
            lambda: (
                fetch(port, "/-/ready")[0] == 200 and query(port, "visord_frames_classified_total")
            ),
            timeout=60,
            what="visord series in Prometheus",
        )
        (series,) = query(port, 'visord_frames_classified_total{job="visord", stream="demo"}')
        assert (
            series["metric"]["instance"] == f"127.0.0.1:{daemon.port}"
            and float(series["value"][1]) > 0
        )
        assert [sample["value"][1] for sample in query(port, 'up{job="visord"}')] == ["1"]

        wait_for(
            lambda: set(rule_health(port).values()) == {"ok"},
            timeout=30,
            what="every rule evaluated",
        )
        assert set(rule_health(port)) == {rule["alert"] for rule in rules()}
        for expr in dashboard_queries():
            query(port, as_promql(expr))
    finally:
        server.terminate()
        server.wait(timeout=30)
