"""The monitoring kit's files (conf/): every metric an alert or a dashboard panel uses is one the
exporter really serves, so a rename cannot leave a silent alert behind. promtool checks the rules
on real Prometheus in tests/e2e/test_monitoring.py."""

import json
import re
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
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and all(used(e) and used(e) <= served() for e in exprs)
