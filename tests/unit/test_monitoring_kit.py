"""The monitoring kit's files (conf/): every metric an alert or a dashboard panel uses is one the
exporter really serves, so a rename cannot leave a silent alert behind, and every alert fires on the
series meant to raise it (`promtool test rules` with conf/prometheus/alerts_test.yml; promtool from
scripts/ensure-tools.sh). Real Prometheus scrapes a real cluster in tests/e2e/test_monitoring.py."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "postdock_supervisor" / "metrics.py", ROOT / "postdock_supervisor" / "metrics_barman.py"]


def served() -> set[str]:
    text = "\n".join(path.read_text() for path in SOURCES)
    names = {f"postdock_{n}" for n in re.findall(r'_gauge\(\s*"([a-z_]+)"', text)}
    names |= set(re.findall(r'"((?:postdock|barman)_[a-z_]+)"', text))
    return names | {f"{n}_total" for n in names}


def used(expr: str) -> set[str]:
    return {w for w in re.findall(r"\b((?:postdock|barman)_[a-z_]+)", expr)}


def test_every_alert_uses_served_metrics_and_says_what_is_wrong() -> None:
    rules = yaml.safe_load((ROOT / "conf" / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {"PostdockNoPrimary", "PostdockTwoPrimaries", "PostdockStandbyNotStreaming", "PostdockReplicationLagHigh",
            "PostdockBackupTooOld", "PostdockPgpoolBackendDown", "PostdockNodeFenced"} <= names  # fmt: skip
    for rule in rules:
        assert used(rule["expr"]) <= served(), rule["alert"]
        assert rule["annotations"]["summary"] and rule["for"]


def test_every_dashboard_panel_uses_served_metrics() -> None:
    dashboard = json.loads((ROOT / "conf" / "grafana" / "postdock.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]  # a row only groups the panels below it
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    assert exprs and all(p["targets"] for p in panels) and all(used(e) and used(e) <= served() for e in exprs)
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert "Backups" in rows


def test_every_alert_fires_on_its_series_in_promtool() -> None:
    promtool = shutil.which("promtool") or str(ROOT / ".tools" / "bin" / "promtool")
    rules = ROOT / "conf" / "prometheus"
    done = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=rules, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = {r["alert"] for r in yaml.safe_load((rules / "alerts.yml").read_text())["groups"][0]["rules"]}
    tests = yaml.safe_load((rules / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]}
    assert fired == alerts, "every alert needs a promtool test that makes it fire"
