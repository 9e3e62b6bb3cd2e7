"""The Kubernetes chart and manifests, rendered and linted by the official helm binary, then checked
statically (no cluster on this machine).

helm comes from scripts/ensure-tools.sh (the test command puts .tools/bin on PATH). Every rendered
object is validated offline against the Kubernetes 1.30 and latest bundled schemas with
kubernetes-validate, strict (unknown fields are errors). Not checked here: anything a real cluster
would show (scheduling, storage, DNS, the probes' timing)."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "helm" / "postdock"
HELM = shutil.which("helm") or str(ROOT / ".tools" / "bin" / "helm")


class HelmError(Exception):
    pass


def helm(*args: str) -> str:
    done = subprocess.run([HELM, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HelmError(done.stderr.strip())
    return done.stdout


def render_chart(sets: list[str], release: str = "postdock") -> list[dict[str, Any]]:
    """Every object `helm template` renders with the given --set overrides, parsed."""
    flags = [arg for s in sets for arg in ("--set", s)]
    return [d for d in yaml.safe_load_all(helm("template", release, str(CHART), *flags)) if d]


VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SECRETS = ["secrets.replicationPassword=r-secret", "secrets.postgresPassword=p-secret", "secrets.pcpPassword=c-secret"]


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("sets", [["existingSecret=postdock-secrets"], SECRETS + ["postgres.replicas=5"]])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(sets: list[str]) -> None:
    docs = render_chart(sets)
    assert docs
    for doc in docs:
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_committed_manifests_are_the_chart_rendered_and_valid() -> None:
    committed = [d for d in yaml.safe_load_all((ROOT / "k8s" / "manifests" / "postdock.yaml").read_text()) if d]
    assert committed == render_chart(["existingSecret=postdock-secrets"]), (
        "regenerate: bash scripts/render-manifests.sh"
    )
    for path in (ROOT / "k8s" / "manifests").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, VERSIONS[0], strict=True)


def test_chart_passes_helm_lint() -> None:
    assert "0 chart(s) failed" in helm("lint", str(CHART), "--strict", "--set", "existingSecret=postdock-secrets")


@pytest.mark.parametrize("tag", ["1.10", "010", "on", "17"])
def test_image_tag_is_used_as_written(tag: str) -> None:
    # YAML would read these as 1.1, 8, true and a number; a tag is a string.
    objects = by_kind(render_chart(["existingSecret=s", f"image.tag={tag}"]))
    [container] = objects[("StatefulSet", "postdock-pg")]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"postdock/postdock:{tag}"


def test_defaults_refuse_to_render_without_passwords() -> None:
    with pytest.raises(HelmError, match="set secrets.replicationPassword or existingSecret"):
        render_chart([])


def test_default_topology_names_probes_and_secret_files() -> None:
    objects = by_kind(render_chart(["existingSecret=my-secret"]))
    assert ("Secret", "postdock-secrets") not in objects
    pg = objects[("StatefulSet", "postdock-pg")]
    assert pg["apiVersion"] == "apps/v1" and pg["spec"]["replicas"] == 3
    assert pg["spec"]["serviceName"] == "postdock-pg"
    [container] = pg["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["PARTNER_NODES"] == "postdock-pg-0.postdock-pg,postdock-pg-1.postdock-pg,postdock-pg-2.postdock-pg"
    assert env["REPLICATION_PRIMARY_HOST"] == "postdock-pg-0.postdock-pg"
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}} and env["NODE_ID_OFFSET"] == "1"
    assert env["CLUSTER_NODE_NETWORK_NAME"] == "$(NODE_NAME).postdock-pg"
    # Secrets only as mounted files, never as values.
    assert env["REPLICATION_PASSWORD_FILE"] == "/etc/postdock/k8s-secret/replication-password"
    assert "REPLICATION_PASSWORD" not in env and "POSTGRES_PASSWORD" not in env
    [secret_volume] = [v for v in pg["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert secret_volume["secret"]["secretName"] == "my-secret"
    assert container["readinessProbe"]["exec"]["command"] == ["postdock", "health"]
    assert container["livenessProbe"]["exec"]["command"] == ["postdock", "health", "--liveness"]
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 300
    assert container["livenessProbe"].get("initialDelaySeconds", 0) < 60  # not PostDock's 600 s
    headless = objects[("Service", "postdock-pg")]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    pool = objects[("Deployment", "postdock-pgpool")]
    assert pool["spec"]["replicas"] == 2
    pool_env = env_of(pool["spec"]["template"]["spec"]["containers"][0])
    assert (
        pool_env["BACKENDS"]
        == "0:postdock-pg-0.postdock-pg::::,1:postdock-pg-1.postdock-pg::::,2:postdock-pg-2.postdock-pg::::"
    )
    assert pool_env["DB_USERS_FILE"] == "/etc/postdock/k8s-secret/db-users"
    assert {objects[("PodDisruptionBudget", n)]["apiVersion"] for n in ("postdock-pg", "postdock-pgpool")} == {
        "policy/v1"
    }


def test_non_default_values_reach_the_objects() -> None:
    sets = [*SECRETS, "postgres.replicas=5", "pgpool.replicas=3", "consistencyMode=strict",
            "postgres.storage.storageClass=fast", "image.tag=edge"]  # fmt: skip
    objects = by_kind(render_chart(sets, release="shop"))
    pg = objects[("StatefulSet", "shop-pg")]
    assert pg["spec"]["replicas"] == 5
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    env = env_of(pg["spec"]["template"]["spec"]["containers"][0])
    assert env["PARTNER_NODES"].split(",") == [f"shop-pg-{i}.shop-pg" for i in range(5)]
    assert pg["spec"]["template"]["spec"]["containers"][0]["image"] == "postdock/postdock:edge"
    assert objects[("ConfigMap", "shop-config")]["data"]["CONSISTENCY_MODE"] == "strict"
    assert objects[("Deployment", "shop-pgpool")]["spec"]["replicas"] == 3
    secret = objects[("Secret", "shop-secrets")]["stringData"]
    assert secret["replication-password"] == "r-secret" and secret["db-users"] == "monkey_user:p-secret"


def test_barman_statefulset_follows_every_postgres_pod_with_its_own_volume() -> None:
    objects = by_kind(
        render_chart(["existingSecret=my-secret", "barman.schedule=15 3 * * *", "barman.incrementalSchedule=0 * * * *"])
    )
    barman = objects[("StatefulSet", "postdock-barman")]
    assert barman["spec"]["replicas"] == 1
    [container] = barman["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["ROLE"] == "barman"
    assert env["REPLICATION_HOST"] == "postdock-pg-0.postdock-pg,postdock-pg-1.postdock-pg,postdock-pg-2.postdock-pg"
    assert env["BACKUP_SCHEDULE"] == "15 3 * * *"
    assert env["INCREMENTAL_SCHEDULE"] == "0 * * * *"
    assert env["REPLICATION_PASSWORD_FILE"] == "/etc/postdock/k8s-secret/replication-password"
    assert "REPLICATION_PASSWORD" not in env and "POSTGRES_PASSWORD" not in env
    assert barman["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert container["readinessProbe"]["exec"]["command"] == ["postdock", "health"]
    assert objects[("Service", "postdock-barman")]["spec"]["ports"][0]["port"] == 8080
    assert objects[("ConfigMap", "postdock-config")]["data"]["BARMAN_SYNCHRONOUS"] == "0"
    off = by_kind(render_chart(["existingSecret=my-secret", "barman.enabled=false"]))
    assert ("StatefulSet", "postdock-barman") not in off


def test_tls_mounts_the_cluster_authority_in_every_pod_and_names_pgpools_service() -> None:
    sets = [*SECRETS, "tls.enabled=true", "tls.secretName=pg-tls"]
    objects = by_kind(render_chart(sets, release="shop"))
    assert objects[("ConfigMap", "shop-config")]["data"]["TLS"] == "1"
    for key in (("StatefulSet", "shop-pg"), ("Deployment", "shop-pgpool"), ("StatefulSet", "shop-barman")):
        spec = objects[key]["spec"]["template"]["spec"]
        [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "tls"]
        assert mount == {"name": "tls", "mountPath": "/etc/postdock/tls", "readOnly": True}
        [volume] = [v for v in spec["volumes"] if v["name"] == "tls"]
        assert volume["secret"] == {"secretName": "pg-tls", "defaultMode": 0o400}
    pool = env_of(objects[("Deployment", "shop-pgpool")]["spec"]["template"]["spec"]["containers"][0])
    assert pool["TLS_NAMES"] == "shop-pgpool,shop-pgpool.default.svc"
    for doc in objects.values():
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)
    off = by_kind(render_chart(SECRETS))
    assert off[("ConfigMap", "postdock-config")]["data"]["TLS"] == "0"
    with pytest.raises(HelmError, match="tls.secretName"):
        render_chart([*SECRETS, "tls.enabled=true"])


def test_a_check_user_gets_its_own_password_on_the_nodes_and_on_pgpool() -> None:
    sets = [*SECRETS, "postgres.checkUser=pool_check", "secrets.checkPassword=k-secret"]
    objects = by_kind(render_chart(sets))
    assert objects[("ConfigMap", "postdock-config")]["data"]["CHECK_USER"] == "pool_check"
    assert objects[("Secret", "postdock-secrets")]["stringData"]["check-password"] == "k-secret"
    node = env_of(objects[("StatefulSet", "postdock-pg")]["spec"]["template"]["spec"]["containers"][0])
    pool = env_of(objects[("Deployment", "postdock-pgpool")]["spec"]["template"]["spec"]["containers"][0])
    assert node["CHECK_PASSWORD_FILE"] == pool["CHECK_PASSWORD_FILE"] == "/etc/postdock/k8s-secret/check-password"
    # Without one, pgpool checks as the repmgr user, as PostDock did.
    plain = by_kind(render_chart(SECRETS))
    assert plain[("ConfigMap", "postdock-config")]["data"]["CHECK_USER"] == "replication_user"
    assert "check-password" not in plain[("Secret", "postdock-secrets")]["stringData"]
    with pytest.raises(HelmError, match="secrets.checkPassword"):
        render_chart([*SECRETS, "postgres.checkUser=pool_check"])


def test_the_off_site_copy_reaches_barman_with_its_keys_as_files() -> None:
    sets = [*SECRETS, "barman.cloud.url=s3://shop-backups/pg", "barman.cloud.endpoint=https://s3.example.net",
            "barman.cloud.secretName=shop-s3"]  # fmt: skip
    objects = by_kind(render_chart(sets))
    spec = objects[("StatefulSet", "postdock-barman")]["spec"]["template"]["spec"]
    env = env_of(spec["containers"][0])
    assert (env["CLOUD_BACKUP_URL"], env["CLOUD_ENDPOINT_URL"]) == ("s3://shop-backups/pg", "https://s3.example.net")
    assert env["AWS_SECRET_ACCESS_KEY_FILE"] == "/etc/postdock/cloud/secret-access-key"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    [volume] = [v for v in spec["volumes"] if v["name"] == "cloud"]
    assert volume["secret"] == {"secretName": "shop-s3", "defaultMode": 0o400}
    for doc in objects.values():
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)
    role_chain = env_of(by_kind(render_chart([*SECRETS, "barman.cloud.url=s3://b-1"]))[
        ("StatefulSet", "postdock-barman")]["spec"]["template"]["spec"]["containers"][0])  # fmt: skip
    assert role_chain["CLOUD_BACKUP_URL"] == "s3://b-1" and "AWS_ACCESS_KEY_ID_FILE" not in role_chain
    assert "CLOUD_BACKUP_URL" not in env_of(
        by_kind(render_chart(SECRETS))[("StatefulSet", "postdock-barman")]["spec"]["template"]["spec"]["containers"][0]
    )


def test_a_control_key_reaches_every_pod_as_a_file_and_only_when_there_is_one() -> None:
    key = "0123456789abcdef0123456789abcdef"
    objects = by_kind(render_chart([*SECRETS, f"secrets.controlKey={key}"]))
    assert objects[("Secret", "postdock-secrets")]["stringData"]["control-key"] == key
    kinds = [("StatefulSet", "postdock-pg"), ("Deployment", "postdock-pgpool"), ("StatefulSet", "postdock-barman")]
    for kind in kinds:
        env = env_of(objects[kind]["spec"]["template"]["spec"]["containers"][0])
        assert env["CONTROL_KEY_FILE"] == "/etc/postdock/k8s-secret/control-key", kind
    plain = by_kind(render_chart(SECRETS))
    assert not any("CONTROL_KEY_FILE" in env_of(plain[k]["spec"]["template"]["spec"]["containers"][0]) for k in kinds)
    given = by_kind(render_chart(["existingSecret=mine", "existingSecretControlKey=true"]))
    assert "CONTROL_KEY_FILE" in env_of(given[kinds[0]]["spec"]["template"]["spec"]["containers"][0])


def test_a_barman_user_is_made_by_the_nodes_and_is_who_barman_connects_as() -> None:
    sets = [*SECRETS, "postgres.barmanUser=barman_user", "secrets.barmanPassword=b-secret"]
    objects = by_kind(render_chart(sets))
    assert objects[("ConfigMap", "postdock-config")]["data"]["BARMAN_USER"] == "barman_user"
    assert objects[("Secret", "postdock-secrets")]["stringData"]["barman-password"] == "b-secret"
    node = env_of(objects[("StatefulSet", "postdock-pg")]["spec"]["template"]["spec"]["containers"][0])
    barman = env_of(objects[("StatefulSet", "postdock-barman")]["spec"]["template"]["spec"]["containers"][0])
    assert (
        node["BARMAN_PASSWORD_FILE"]
        == barman["REPLICATION_PASSWORD_FILE"]
        == "/etc/postdock/k8s-secret/barman-password"
    )
    assert barman["REPLICATION_USER"] == "barman_user"
    for doc in objects.values():
        kubernetes_validate.validate(doc, VERSIONS[0], strict=True)
    with pytest.raises(HelmError, match="secrets.barmanPassword"):
        render_chart([*SECRETS, "postgres.barmanUser=barman_user"])
