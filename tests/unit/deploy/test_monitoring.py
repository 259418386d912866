"""The alert rules and the Grafana dashboard, checked offline: they parse (promtool when it is
installed), every metric they use is one the code exports, every alert has a runbook entry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from prometheus_client import REGISTRY

from shared import metrics
from shared.bus.consumer import BusMetrics

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "k8s" / "base" / "prometheus-rules.yaml"
DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana-dashboard.json"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
ALERTS = {
    "CsmsQueueWithoutConsumers",
    "CsmsQueueBacklogGrowing",
    "CsmsDeadLetters",
    "CsmsRpcTimeouts",
    "CsmsStationsDisconnectingEnMasse",
    "CsmsNotReady",
}
# PromQL words that look like metric names: functions, aggregations, keywords, label names.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "and", "or", "unless", "rate",
    "increase", "deriv", "histogram_quantile", "offset", "bool", "on", "ignoring",
    "group_left", "group_right", "le", "queue", "code", "target", "action", "direction",
    "outcome", "version", "service", "bus", "instance", "pod", "m", "s", "h", "d",
}  # fmt: skip
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class _FakeBus:
    name = "test-monitoring"
    metrics = BusMetrics()


def exported_names() -> set[str]:
    """Every sample name the processes can export (histogram series and bus counters too)."""
    metrics.register_bus(_FakeBus())
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_count", "_sum"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers of an expression outside strings, label matchers' values and durations."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    without_labels = re.sub(r"\{[^}]*\}", "", without_ranges)
    return {n for n in _NAME.findall(without_labels) if n not in PROMQL_WORDS}


def rule_spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["kind"] == "PrometheusRule"
    spec: dict[str, Any] = document["spec"]
    return spec


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_spec()["groups"] for rule in group["rules"]]


def test_the_alerts_the_issue_asks_for_are_there_with_a_runbook_line() -> None:
    found = {rule["alert"] for rule in rules()}
    assert found == ALERTS
    doc = DEPLOY_DOC.read_text()
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert rule["alert"] in rule["annotations"]["runbook"]
        assert re.search(rf"^\| `{rule['alert']}` \|.+\|", doc, re.MULTILINE), (
            f"docs/deploy.md has no runbook row for {rule['alert']}"
        )


def test_alert_expressions_use_only_exported_metrics() -> None:
    exported = exported_names()
    for rule in rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_metric_name_extraction() -> None:
    expr = 'max by (queue) (bus_queue_messages{queue!="a_b"}) > 0 and rate(x_total[5m]) > 1'
    assert metric_names(expr) == {"bus_queue_messages", "x_total"}


def test_dashboard_parses_and_uses_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_names()
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names <= exported, (expr, names - exported)
        used |= names
    for wanted in (
        "gateway_connections_closed_total",
        "ocpp_call_seconds_bucket",
        "rpc_timeouts_total",
        "bus_queue_messages",
        "bus_queue_consumers",
        "bus_dead_lettered_total",
    ):
        assert wanted in used, wanted


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (.ci/run installs Debian's prometheus package)")
    plain = tmp_path / "rules.yaml"
    plain.write_text(yaml.safe_dump(rule_spec()))
    result = subprocess.run(
        [promtool, "check", "rules", str(plain)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(ALERTS)} rules found" in result.stdout


def fired(alert: str, summary: str, **labels: str) -> dict[str, Any]:
    """An alert promtool must see firing, with its labels and rendered annotations."""
    return {
        "exp_labels": labels,
        "exp_annotations": {"summary": summary, "runbook": f"docs/deploy.md#alerts -- {alert}"},
    }


# promtool unit tests of the alerts: synthetic series in, the alerts that must (not) fire out.
ALERT_CASES: list[dict[str, Any]] = [
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'bus_queue_consumers{queue="csms.registry.rpc",pod="gw-1"}',
                "values": "1 1 0x10",
            },
            {
                "series": 'bus_queue_consumers{queue="csms.registry.rpc",pod="gw-2"}',
                "values": "1 1 0x10",
            },
            {
                "series": 'bus_queue_consumers{queue="csms.transactions.rpc",pod="gw-1"}',
                "values": "1x12",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "CsmsQueueWithoutConsumers", "exp_alerts": []},
            {
                "eval_time": "6m",
                "alertname": "CsmsQueueWithoutConsumers",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "critical", "queue": "csms.registry.rpc"},
                        "exp_annotations": {
                            "summary": "No consumer on csms.registry.rpc: its service is down "
                            "or cannot reach the broker",
                            "runbook": "docs/deploy.md#alerts -- CsmsQueueWithoutConsumers",
                        },
                    }
                ],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'bus_queue_messages{queue="csms.transactions",pod="tx-1"}',
                "values": "0+200x40",
            },
            {
                "series": 'bus_queue_messages{queue="csms.registry",pod="reg-1"}',
                "values": "5000x40",
            },
            {
                "series": 'bus_queue_messages{queue="csms.dead-letter",pod="reg-1"}',
                "values": "0 0 3x20",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "30m",
                "alertname": "CsmsQueueBacklogGrowing",
                "exp_alerts": [
                    fired(
                        "CsmsQueueBacklogGrowing",
                        "csms.transactions holds 6000 messages and keeps growing",
                        severity="warning",
                        queue="csms.transactions",
                    )
                ],
            },
            {"eval_time": "4m", "alertname": "CsmsDeadLetters", "exp_alerts": []},
            {
                "eval_time": "8m",
                "alertname": "CsmsDeadLetters",
                "exp_alerts": [
                    fired(
                        "CsmsDeadLetters",
                        "3 dead letters wait in csms.dead-letter",
                        severity="warning",
                    )
                ],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'rpc_timeouts_total{target="ocpp16.Authorize",pod="gw-1"}',
                "values": "0+30x20",
            },
            {"series": 'rpc_timeouts_total{target="chargepoint",pod="gw-1"}', "values": "0+1x20"},
            {
                "series": 'gateway_connections_closed_total{code="1006",pod="gw-1"}',
                "values": "0+20x10",
            },
            {
                "series": 'gateway_connections_closed_total{code="1000",pod="gw-1"}',
                "values": "0+500x10",
            },
            {"series": 'process_ready{pod="gw-1"}', "values": "1 0x10"},
            {"series": 'process_ready{pod="gw-2"}', "values": "1x11"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "12m",
                "alertname": "CsmsRpcTimeouts",
                "exp_alerts": [
                    fired(
                        "CsmsRpcTimeouts",
                        "RPCs to ocpp16.Authorize time out (0.5/s)",
                        severity="warning",
                        target="ocpp16.Authorize",
                    )
                ],
            },
            {
                "eval_time": "6m",
                "alertname": "CsmsStationsDisconnectingEnMasse",
                "exp_alerts": [
                    fired(
                        "CsmsStationsDisconnectingEnMasse",
                        "100 charge point sockets dropped abnormally in 5 minutes",
                        severity="critical",
                    )
                ],
            },
            {
                "eval_time": "7m",
                "alertname": "CsmsNotReady",
                "exp_alerts": [
                    fired(
                        "CsmsNotReady",
                        "gw-1 has answered /readyz 503 for 5 minutes",
                        severity="critical",
                        pod="gw-1",
                    )
                ],
            },
        ],
    },
]


def test_promtool_alert_unit_tests(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (.ci/run installs Debian's prometheus package)")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_spec()))
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": ALERT_CASES}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
