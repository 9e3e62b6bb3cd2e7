"""docker-compose/stack.yml, read statically: the same topology as the compose example, and the
swarm-specific choices every postgres service needs (README "Docker Swarm"). The stack itself runs in
tests/e2e/test_swarm.py."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((ROOT / "docker-compose" / "stack.yml").read_text())
EXAMPLE = yaml.safe_load((ROOT / "docker-compose" / "latest.yml").read_text())
NODES = ["pgmaster", "pgslave1", "pgslave2", "pgslave3", "pgslave4"]
TOPOLOGY = ("NODE_ID", "NODE_NAME", "CLUSTER_NODE_NETWORK_NAME", "PARTNER_NODES", "REPLICATION_PRIMARY_HOST",
            "NODE_PRIORITY", "CLEAN_OVER_REWIND")  # fmt: skip


def env(document: dict[str, Any], service: str) -> dict[str, str]:
    return {k: str(v) for k, v in document["services"][service]["environment"].items()}


def test_the_stack_has_the_examples_services_and_topology() -> None:
    assert set(STACK["services"]) == set(EXAMPLE["services"]) - {"prometheus"}
    for node in NODES:
        ours, theirs = env(STACK, node), env(EXAMPLE, node)
        assert {k: ours.get(k) for k in TOPOLOGY} == {k: theirs.get(k) for k in TOPOLOGY}, node
    assert env(STACK, "pgpool")["BACKENDS"] == env(EXAMPLE, "pgpool")["BACKENDS"]
    assert env(STACK, "backup")["REPLICATION_HOST"] == env(EXAMPLE, "backup")["REPLICATION_HOST"]


def test_each_stateful_service_stays_with_its_volume_and_is_judged_by_liveness() -> None:
    for name in [*NODES, "backup"]:
        service = STACK["services"][name]
        deploy = service["deploy"]
        assert deploy["replicas"] == 1 and deploy["endpoint_mode"] == "dnsrr", name
        assert deploy["placement"]["constraints"] == [f"node.labels.postdock.{name} == true"], name
        assert deploy["update_config"]["order"] == "stop-first", name  # one volume, one task at a time
        assert service["healthcheck"]["test"] == ["CMD", "postdock", "health", "--liveness"], name
        assert service["hostname"] == name, name
    assert STACK["services"]["pgmaster"]["stop_grace_period"] == "60s"  # the hand-over's time


def test_no_password_is_in_an_environment_value_only_secret_files() -> None:
    for name, service in STACK["services"].items():
        variables = env(STACK, name)
        assert not {k for k in variables if k.endswith(("PASSWORD", "DB_USERS"))}, name
        for key, value in variables.items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (name, key)
        mounted = {s["source"] for s in service["secrets"]}
        assert {Path(v).name for k, v in variables.items() if k.endswith("_FILE")} <= mounted, name
        assert mounted <= set(STACK["secrets"]), name
