"""The monitoring files of docker/ hold together: promtool accepts the rules and the config, each
alert fires on a failing series and stays quiet on a healthy one, and every dashboard is one
Grafana can load with the provisioned datasource. (Queries against a real Prometheus scraping a
real worker: tests/e2e/test_monitoring.py.)"""

import json
import subprocess

import yaml

from tests.support.monitoring import DASHBOARDS, PROMETHEUS_DIR, REPO, panel_queries, tool


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_alert_rules_and_the_compose_config():
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0 and "1 rule files found" in config.stdout, config.stdout + config.stderr


def test_each_alert_fires_on_a_failing_series_and_stays_quiet_on_a_healthy_one():
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())["tests"]
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")}
    assert tested == {rule["alert"] for rule in rules}, "every alert needs a case where it fires"


def test_a_broken_expectation_fails_promtool(tmp_path):
    # The rule tests can fail: the same file with one expected label changed does.
    broken = (PROMETHEUS_DIR / "alerts.test.yml").read_text().replace("broker: zerodha}", "broker: paper}", 1)
    (tmp_path / "alerts.yml").write_text((PROMETHEUS_DIR / "alerts.yml").read_text())
    (tmp_path / "alerts.test.yml").write_text(broken)
    result = subprocess.run([tool("promtool"), "test", "rules", "alerts.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_the_dashboards_are_provisioned_with_the_prometheus_datasource():
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    grafana = compose["services"]["grafana"]
    assert ":" in grafana["image"] and not grafana["image"].endswith(":latest"), "a pinned Grafana image"
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    provider = yaml.safe_load((REPO / "docker/grafana/provisioning/dashboards/alphapanda.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load((REPO / "docker/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert "./prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]

    names = {path.stem for path in DASHBOARDS.glob("*.json")}
    assert names == {"pipeline", "trading", "dlq", "consumer-lag"}
    uids = set()
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == uid and panel["targets"], f"{path.name}: {panel['title']}"
            assert all(target["expr"].strip() and target["datasource"]["uid"] == uid for target in panel["targets"])
    assert len(uids) == len(names)
    assert len(panel_queries()) >= 30
