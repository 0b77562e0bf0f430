"""The Kubernetes manifests (deploy/k8s): every overlay renders with `kubectl kustomize`, every
rendered object passes its schema (Kubernetes' own, or KEDA's CRD), and the objects agree with
each other and with the gateway's settings."""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

import wawp_gateway
from wawp_gateway.core.checks import config_warnings
from wawp_gateway.core.config import Settings
from wawp_gateway.core.secrets import secret_settings
from wawp_gateway.core.sections import KafkaSettings, MetricsSettings, WebhookSettings

from .support import DEPLOY, SCHEMAS, known_settings, process_settings, settings_class

K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "production")
# The oldest and newest Kubernetes minors checked; kubernetes-validate bundles both.
K8S_VERSIONS = ("1.32", "1.37")
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
GATEWAY_IMAGE = "wawp-gateway"
# Not in any render on purpose: created in the cluster (base/secret.example.yaml).
EXTERNAL_SECRETS = {"production": {"wawp-gateway-secrets", "wawp-gateway-kafka-ca"}}
# A value for each secret the manifests reference: what the settings need is that it is set.
_SECRET_STAND_IN = "stand-in-secret"


def _kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed: the kustomize overlays cannot be rendered")
    return found


@functools.cache
def _render(path: Path) -> tuple[dict[str, Any], ...]:
    done = subprocess.run(
        [_kubectl(), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {path} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def _objects(overlay: str) -> tuple[dict[str, Any], ...]:
    return _render(K8S / "overlays" / overlay)


def _named(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def _containers(objects: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, container) for every container of every workload."""
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            for container in _pod_spec(obj).get("containers", []):
                yield obj["metadata"]["name"], container


def _is_gateway(container: dict[str, Any]) -> bool:
    image: str = container["image"]
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0] == GATEWAY_IMAGE


def _gateway_workloads(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] in WORKLOADS and any(_is_gateway(c) for c in _pod_spec(o)["containers"])
    }


def _environment(objects: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, env over it.
    Secret values are stand-ins; a missing ConfigMap or Secret is an error."""
    config_maps = _named(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            raise AssertionError(f"unexpected envFrom source {source}")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            env[item["name"]] = _SECRET_STAND_IN
        elif "configMapKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = config_maps[ref["name"]]["data"][ref["key"]]
    return env


def _secret_sources(volume: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The Secret references of a volume: ``{"name", "items", "optional"}`` each."""
    if "secret" in volume:
        ref = volume["secret"]
        yield {"name": ref["secretName"], "items": ref.get("items", []), **ref}
    for source in volume.get("projected", {}).get("sources", []):
        if "secret" in source:
            yield source["secret"]


def _mounted_secret_files(
    workload: dict[str, Any], container: dict[str, Any], directory: str
) -> dict[str, tuple[str, str, bool]]:
    """File name -> (Secret, key, optional) of the Secret files mounted at ``directory``."""
    volumes = {v["name"]: v for v in _pod_spec(workload)["volumes"]}
    files: dict[str, tuple[str, str, bool]] = {}
    for mount in container.get("volumeMounts", []):
        if mount["mountPath"] != directory:
            continue
        for ref in _secret_sources(volumes[mount["name"]]):
            for item in ref.get("items", []):
                files[item["path"]] = (ref["name"], item["key"], bool(ref.get("optional")))
    return files


def _as_mounted(
    workload: dict[str, Any], container: dict[str, Any], env: dict[str, str], local: Path
) -> dict[str, str]:
    """``env`` as the process sees it at start-up: the files of GATEWAY_SECRETS_DIR read into
    their settings (stand-in values; optional ones left out), and a setting that names a file on
    a mounted Secret (GATEWAY_KAFKA__SSL_CAFILE) pointed at a stand-in file under ``local``."""
    seen = dict(env)
    directory = seen.pop("GATEWAY_SECRETS_DIR", None)
    if directory is not None:
        files = _mounted_secret_files(workload, container, directory)
        assert files, f"{workload['metadata']['name']}: nothing mounted at {directory}"
        for variable, (_, _, optional) in files.items():
            if not optional:
                seen.setdefault(variable, _SECRET_STAND_IN)
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    for name, value in env.items():
        if name.startswith("GATEWAY_KAFKA__SSL_") and name.endswith("FILE"):
            parent = str(Path(value).parent)
            assert parent in mounts, f"{name}={value} is on no mounted volume"
            placed = local / Path(value).name
            placed.parent.mkdir(parents=True, exist_ok=True)
            placed.write_text("stand-in PEM")
            seen[name] = str(placed)
    return seen


def _partitions(objects: tuple[dict[str, Any], ...]) -> int:
    (config,) = [
        o for o in objects if o["kind"] == "ConfigMap" and "GATEWAY_KAFKA__PARTITIONS" in o["data"]
    ]
    return int(config["data"]["GATEWAY_KAFKA__PARTITIONS"])


# --- schemas -----------------------------------------------------------------------------------


def _closed(node: Any) -> Any:
    """A CRD's structural schema as a JSON Schema that refuses unknown fields."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _closed(value) for key, value in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _scaled_object_validator() -> jsonschema.Draft202012Validator:
    crd = yaml.safe_load((SCHEMAS / "keda.sh_scaledobjects.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _kafka_trigger_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / "keda-kafka-trigger-metadata.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _trigger_auth_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / "keda-triggerauthentication.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _schema_errors(validator: jsonschema.Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def _ids(objects: tuple[dict[str, Any], ...]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def objects(overlay: str) -> tuple[dict[str, Any], ...]:
    return _objects(overlay)


def test_base_renders_on_its_own() -> None:
    """The base renders without an overlay (it is a complete kustomization)."""
    kinds = {o["kind"] for o in _render(K8S / "base")}

    assert {"Deployment", "ScaledObject", "PodDisruptionBudget", "ConfigMap"} <= kinds


def test_every_rendered_object_passes_its_schema(objects: tuple[dict[str, Any], ...]) -> None:
    """Core objects against Kubernetes' schemas (strict: unknown fields are errors) for each
    checked version; the ScaledObject against KEDA's CRD and its kafka triggers' metadata
    against the scaler's keys."""
    problems: list[str] = []
    for obj, name in zip(objects, _ids(objects), strict=True):
        if obj["kind"] == "TriggerAuthentication":
            problems += [f"{name}: {e}" for e in _schema_errors(_trigger_auth_validator(), obj)]
            continue
        if obj["apiVersion"].startswith("keda.sh/"):
            assert obj["kind"] == "ScaledObject", f"no vendored schema for {name}"
            problems += [f"{name}: {e}" for e in _schema_errors(_scaled_object_validator(), obj)]
            for trigger in obj["spec"]["triggers"]:
                if trigger["type"] == "kafka":
                    metadata = trigger["metadata"]
                    errors = _schema_errors(_kafka_trigger_validator(), metadata)
                    problems += [f"{name} trigger {trigger.get('name')}: {e}" for e in errors]
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path) or "(root)"
                problems.append(f"{name} (Kubernetes {version}): {where}: {exc.message}")
            except SchemaNotFoundError as exc:
                problems.append(f"{name}: {exc.message}")

    assert not problems, "\n".join(problems)


def test_a_broken_manifest_is_caught() -> None:
    """The validators are not vacuous: a misspelt field fails both kinds of schema."""
    deployment = copy.deepcopy(_named(_objects("dev"), "Deployment")["wawp-gateway-worker"])
    _pod_spec(deployment)["containers"][0]["livenesProbe"] = {"tcpSocket": {"port": 1}}
    scaled = copy.deepcopy(_named(_objects("dev"), "ScaledObject")["wawp-gateway-worker"])
    scaled["spec"]["maxReplicas"] = 3
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    trigger["allowIdleConsumer"] = "false"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    assert _schema_errors(_scaled_object_validator(), scaled)
    assert _schema_errors(_kafka_trigger_validator(), trigger)


def test_gateway_workloads_have_probes_resources_and_no_root(
    objects: tuple[dict[str, Any], ...],
) -> None:
    """Every container: CPU and memory requests and limits, non-root, no privilege escalation,
    no capabilities. Gateway containers also: a read-only root filesystem, a writable /tmp, and
    long-running ones liveness on /healthz and readiness on /readyz or /healthz."""
    problems: list[str] = []
    for obj in objects:
        if obj["kind"] not in WORKLOADS:
            continue
        name, pod = obj["metadata"]["name"], _pod_spec(obj)
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token it does not need")
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    problems.append(f"{where}: {part} lack cpu or memory")
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities are not all dropped")
            if not _is_gateway(container):
                continue
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if "/tmp" not in {m["mountPath"] for m in container.get("volumeMounts", [])}:
                problems.append(f"{where}: no writable /tmp")
            if obj["kind"] == "Job":
                continue
            liveness = container.get("livenessProbe", {}).get("httpGet", {}).get("path")
            readiness = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
            healthz = "/_sandbox/healthz" if container["args"][0] == "sandbox" else "/healthz"
            if liveness != healthz:
                problems.append(f"{where}: liveness probe is {liveness}, not {healthz}")
            if readiness not in ("/readyz", healthz):
                problems.append(f"{where}: readiness probe is {readiness}")

    assert not problems, "\n".join(problems)


def test_probe_and_metrics_ports_are_the_ones_the_processes_listen_on(
    objects: tuple[dict[str, Any], ...],
) -> None:
    """A probe names a declared port, and that port is the one the process binds: the metrics
    port for worker and tracker, the receiver's own port for the webhook."""
    for _, container in _containers(objects):
        if not _is_gateway(container) or container["args"][0] not in {
            "worker",
            "tracker",
            "webhook",
        }:
            continue
        env = _environment(objects, container)
        if container["args"][0] == "webhook":
            listens = int(env.get("GATEWAY_WEBHOOK__PORT", WebhookSettings().port))
        else:
            listens = int(env.get("GATEWAY_METRICS__PORT", MetricsSettings().port))
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            port = container[probe]["httpGet"]["port"]
            assert ports.get(port, port) == listens, (container["name"], probe)


def test_env_names_are_real_settings(objects: tuple[dict[str, Any], ...]) -> None:
    """Every GATEWAY_* name in a ConfigMap or a container's env is a documented setting: a typo
    would be ignored by the gateway, silently."""
    used = {
        name
        for o in objects
        if o["kind"] == "ConfigMap"
        for name in o.get("data", {})
        if name.startswith("GATEWAY_")
    } | {
        item["name"]
        for _, container in _containers(objects)
        for item in container.get("env", [])
        if item["name"].startswith("GATEWAY_")
    }

    assert used
    assert used <= known_settings(), sorted(used - known_settings())


def test_each_gateway_process_accepts_its_configuration(
    objects: tuple[dict[str, Any], ...], tmp_path: Path
) -> None:
    """Each gateway container's environment (ConfigMap, env, mounted instances file, the secret
    files of GATEWAY_SECRETS_DIR, mounted certificates) passes the settings validation its
    command runs at start-up, and the worker's passes `check-config` without warnings."""
    config_maps = _named(objects, "ConfigMap")
    workloads = {o["metadata"]["name"]: o for o in objects if o["kind"] in WORKLOADS}
    checked = set()
    for workload, container in _containers(objects):
        cls = settings_class(container.get("args", []))
        if not _is_gateway(container) or cls is None:
            continue
        env = _as_mounted(
            workloads[workload],
            container,
            _environment(objects, container),
            tmp_path / workload / "mounted",
        )
        instances_file = env.get("GATEWAY_INSTANCES_FILE")
        if instances_file is not None:
            volumes = {
                v["name"]: v for v in _pod_spec(_named(objects, "Deployment")[workload])["volumes"]
            }
            (mount,) = [
                m
                for m in container["volumeMounts"]
                if Path(instances_file).parent == Path(m["mountPath"])
            ]
            data = config_maps[volumes[mount["name"]]["configMap"]["name"]]["data"]
            local = tmp_path / workload / Path(instances_file).name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(data[Path(instances_file).name])
            env["GATEWAY_INSTANCES_FILE"] = str(local)
        settings = process_settings(cls, env)
        if isinstance(settings, Settings):
            assert settings.instances.instances, f"{workload}: no instance configured"
            assert not config_warnings(settings), (workload, config_warnings(settings))
        checked.add(container["args"][0])

    assert {"worker", "webhook", "tracker", "topics"} <= checked


def test_referenced_secrets_exist(overlay: str, objects: tuple[dict[str, Any], ...]) -> None:
    """Every Secret a pod reads is in the render or one the overlay expects in the cluster, and
    every key a pod needs from it is a key of base/secret.example.yaml."""
    secrets = _named(objects, "Secret")
    expected = EXTERNAL_SECRETS.get(overlay, set())
    example = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    for workload, container in _containers(objects):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            name = ref["name"]
            assert name in secrets or name in expected, (workload, name)
            if name in secrets:
                data = secrets[name].get("data", {}) | secrets[name].get("stringData", {})
                assert ref["key"] in data or ref.get("optional"), (workload, ref)
            if name.startswith(example["metadata"]["name"]):
                assert ref["key"] in example["stringData"] or ref.get("optional"), ref["key"]
    example_keys = set(example["stringData"]) | {
        line.split(":", 1)[0].strip("# ")
        for line in (K8S / "base" / "secret.example.yaml").read_text().splitlines()
        if line.startswith("  # GATEWAY_")
    }
    for obj in objects:
        if obj["kind"] not in WORKLOADS:
            continue
        for volume in _pod_spec(obj).get("volumes", []):
            for ref in _secret_sources(volume):
                name = ref["name"]
                assert name in secrets or name in expected, (obj["metadata"]["name"], name)
                keys = [item["key"] for item in ref.get("items", [])]
                if name in secrets:
                    data = secrets[name].get("data", {}) | secrets[name].get("stringData", {})
                    assert ref.get("optional") or set(keys) <= set(data), (name, keys)
                if name.startswith(example["metadata"]["name"]):
                    assert set(keys) <= example_keys, (name, keys)


def test_worker_scaling_is_capped_at_the_partition_count(
    objects: tuple[dict[str, Any], ...],
) -> None:
    """KEDA scales the worker Deployment (which sets no replica count of its own), at most to
    GATEWAY_KAFKA__PARTITIONS, on the lag of both input topics of the worker's group, never
    past a topic's partitions (allowIdleConsumers false)."""
    (scaled,) = _named(objects, "ScaledObject").values()
    spec = scaled["spec"]
    target = _named(objects, "Deployment")[spec["scaleTargetRef"]["name"]]
    (container,) = [
        c
        for c in _pod_spec(target)["containers"]
        if c["name"] == spec["scaleTargetRef"]["envSourceContainerName"]
    ]
    env = _environment(objects, container)
    topics = {
        env[t["metadata"]["topicFromEnv"]]
        if "topicFromEnv" in t["metadata"]
        else t["metadata"]["topic"]
        for t in spec["triggers"]
    }

    assert container["args"] == ["worker"]
    assert "replicas" not in target["spec"]
    assert spec["maxReplicaCount"] == _partitions(objects)
    # KEDA's CRD rule (x-kubernetes-validations), which a JSON Schema cannot express.
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert topics == {env["GATEWAY_TOPICS__SEND"], env["GATEWAY_TOPICS__COMMAND"]}
    for trigger in spec["triggers"]:
        metadata = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert metadata["allowIdleConsumers"] == "false"
        assert int(metadata["lagThreshold"]) > 0
        assert metadata["offsetResetPolicy"] == "earliest"
        for key, name in metadata.items():
            if key.endswith("FromEnv"):
                assert name in env, f"{key}: the worker container has no {name}"
        group = metadata.get("consumerGroup") or env[metadata["consumerGroupFromEnv"]]
        assert group == env.get("GATEWAY_KAFKA__GROUP_ID", KafkaSettings().group_id)


def test_tracker_replicas_stay_within_the_partition_count(
    objects: tuple[dict[str, Any], ...],
) -> None:
    """Fixed replica counts of the tracker stay within the partition count: a tracker without
    partitions never becomes ready, and a rollout would wait for it."""
    for name, deployment in _named(objects, "Deployment").items():
        if name == "wawp-gateway-tracker":
            assert deployment["spec"].get("replicas", 1) <= _partitions(objects)


def test_worker_outlives_its_drain(objects: tuple[dict[str, Any], ...]) -> None:
    """The kubelet waits longer than the worker's shutdown grace before it kills it."""
    worker = _named(objects, "Deployment")["wawp-gateway-worker"]
    (container,) = _pod_spec(worker)["containers"]
    grace_s = float(_environment(objects, container).get("GATEWAY_SHUTDOWN__GRACE_S", 30))

    assert _pod_spec(worker)["terminationGracePeriodSeconds"] > grace_s


def test_every_role_has_a_disruption_budget(objects: tuple[dict[str, Any], ...]) -> None:
    """Each gateway Deployment is covered by exactly one PodDisruptionBudget."""
    budgets = _named(objects, "PodDisruptionBudget").values()
    for name, deployment in _named(objects, "Deployment").items():
        if name not in _gateway_workloads(objects) or name == "wawp-sandbox":
            continue
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, name


def test_services_select_pods_and_ports_that_exist(objects: tuple[dict[str, Any], ...]) -> None:
    """Each Service selects at least one pod template, and a named targetPort is declared by one
    of the selected containers."""
    templates = [
        (o["spec"]["template"]["metadata"]["labels"], _pod_spec(o)["containers"])
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    ]
    for name, service in _named(objects, "Service").items():
        selector = service["spec"]["selector"]
        selected = [cs for labels, cs in templates if selector.items() <= labels.items()]
        assert selected, f"Service {name} selects no pod"
        declared = {p.get("name") for cs in selected for c in cs for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            assert not isinstance(target, str) or target in declared, (name, target)


def test_one_gateway_image_per_overlay(overlay: str, objects: tuple[dict[str, Any], ...]) -> None:
    """Every gateway container of an overlay runs the same image, with an explicit tag (not
    latest); production's tag is the package version."""
    images = {c["image"] for _, c in _containers(objects) if _is_gateway(c)}

    assert len(images) == 1, images
    (image,) = images
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    assert tag not in ("", "latest"), image
    if overlay == "production":
        assert tag == wawp_gateway.__version__


def test_the_instances_file_parses(objects: tuple[dict[str, Any], ...]) -> None:
    """The instances file the workers mount is valid TOML with at least one instance and no
    token (it ships in a ConfigMap)."""
    (config,) = [o for o in objects if o["kind"] == "ConfigMap" and "instances.toml" in o["data"]]
    parsed = tomllib.loads(config["data"]["instances.toml"])

    assert parsed["instances"]
    assert all("access_token" not in i for i in parsed["instances"].values())


def test_overlays_differ_where_they_should() -> None:
    """Dev and production differ in partitions, namespace and image, and each overlay's
    namespace holds every namespaced object."""
    dev, production = _objects("dev"), _objects("production")

    assert _partitions(dev) != _partitions(production)
    for objects in (dev, production):
        namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
        assert None not in namespaces
        assert len(namespaces) == 1, namespaces


def test_secrets_are_files_never_environment_values(objects: tuple[dict[str, Any], ...]) -> None:
    """No gateway container takes a secret into its environment; each one that reads secrets
    has them as files at GATEWAY_SECRETS_DIR, each file named as a secret setting of the
    settings its command builds."""
    workloads = {o["metadata"]["name"]: o for o in objects if o["kind"] in WORKLOADS}
    with_files = set()
    for workload, container in _containers(objects):
        cls = settings_class(container.get("args", []))
        if not _is_gateway(container) or cls is None:
            continue
        from_secrets = [
            item["name"]
            for item in container.get("env", [])
            if "secretKeyRef" in item.get("valueFrom", {})
        ]
        assert not from_secrets, (workload, from_secrets)
        directory = _environment(objects, container).get("GATEWAY_SECRETS_DIR")
        if directory is None:
            continue
        files = _mounted_secret_files(workloads[workload], container, directory)
        assert set(files) <= {variable for variable, _ in secret_settings(cls)}, (workload, files)
        with_files.add(container["args"][0])

    assert {"worker", "webhook"} <= with_files


def test_production_talks_to_a_secured_cluster() -> None:
    """Production: every gateway process logs in with SCRAM-SHA-512 over TLS, its CA file on a
    mounted Secret and its password a file at GATEWAY_SECRETS_DIR; KEDA logs in the same way."""
    objects = _objects("production")
    workloads = {o["metadata"]["name"]: o for o in objects if o["kind"] in WORKLOADS}
    processes = set()
    for workload, container in _containers(objects):
        if not _is_gateway(container):
            continue
        env = _environment(objects, container)
        kafka = KafkaSettings.model_validate(
            {
                name.removeprefix("GATEWAY_KAFKA__").lower(): value
                for name, value in env.items()
                if name.startswith("GATEWAY_KAFKA__") and not name.endswith("FILE")
            }
            | {"sasl_password": _SECRET_STAND_IN}
        )
        files = _mounted_secret_files(workloads[workload], container, env["GATEWAY_SECRETS_DIR"])
        ca_mount = str(Path(env["GATEWAY_KAFKA__SSL_CAFILE"]).parent)
        ca_files = _mounted_secret_files(workloads[workload], container, ca_mount)

        assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        assert kafka.sasl_username
        assert kafka.ssl_check_hostname
        assert files["GATEWAY_KAFKA__SASL_PASSWORD"] == (
            "wawp-gateway-secrets",
            "GATEWAY_KAFKA__SASL_PASSWORD",
            False,
        )
        assert ca_files[Path(env["GATEWAY_KAFKA__SSL_CAFILE"]).name][0] == "wawp-gateway-kafka-ca"
        processes.add(container["args"][0])

    auths = _named(objects, "TriggerAuthentication")
    (scaled,) = _named(objects, "ScaledObject").values()
    worker_env = _environment(objects, _pod_spec(workloads["wawp-gateway-worker"])["containers"][0])
    assert processes == {"worker", "webhook", "tracker", "topics"}
    for trigger in scaled["spec"]["triggers"]:
        assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == (
            "scram_sha512",
            "enable",
        )
        auth = auths[trigger["authenticationRef"]["name"]]["spec"]
        by_parameter = {ref["parameter"]: ref for ref in auth["secretTargetRef"] + auth["env"]}
        assert by_parameter["username"]["name"] in worker_env
        assert by_parameter["password"]["key"] == "GATEWAY_KAFKA__SASL_PASSWORD"
        assert by_parameter["ca"]["name"] == "wawp-gateway-kafka-ca"
