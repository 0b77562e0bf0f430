"""deploy/compose.yaml: valid against the Compose specification's schema, and coherent: the
services it names exist, the files it mounts exist, each gateway service's environment passes
the settings validation, Prometheus (in the layout the mounts make) passes promtool, and Grafana
finds the dashboard and the Prometheus it is mounted with."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from wawp_gateway.core.checks import config_warnings
from wawp_gateway.core.config import Settings
from wawp_gateway.core.secrets import secret_settings
from wawp_gateway.core.sections import KafkaSettings, MetricsSettings, WebhookSettings

from .support import DEPLOY, SCHEMAS, known_settings, process_settings, settings_class

COMPOSE = DEPLOY / "compose.yaml"
SANDBOX_ENV = DEPLOY / "compose" / "sandbox.env"
GATEWAY_SERVICES = {"topics", "worker", "webhook", "tracker"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


@functools.cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string; a required variable that is unset fails."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        given = env.get(name)
        if op in (":-", "-"):
            unset = given is None or (op == ":-" and given == "")
            return arg if unset else str(given)
        if op in (":?", "?"):
            unset = given is None or (op == ":?" and given == "")
            assert not unset, f"${{{name}}} is required: {arg}"
        return given or ""

    return _VARIABLE.sub(substitute, value)


def _environment(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    raw = service.get("environment", {})
    assert isinstance(raw, dict), "environment is written as a mapping"
    return {name: _interpolate(str(value), env) for name, value in raw.items()}


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> named volume, for the service's named volumes."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/")):
            found[target] = source
    return found


def _as_started(
    service: dict[str, Any], environment: dict[str, str], env: dict[str, str], local: Path
) -> dict[str, str]:
    """The environment as the process sees it at start-up: its Compose secrets read from
    GATEWAY_SECRETS_DIR into their settings (the value of each secret's variable), and a
    certificate on a named volume (GATEWAY_KAFKA__SSL_CAFILE) as a stand-in file."""
    seen = dict(environment)
    directory = seen.pop("GATEWAY_SECRETS_DIR", None)
    declared = _compose().get("secrets", {})
    if directory is not None:
        assert directory == "/run/secrets", "Compose mounts secrets in /run/secrets"
        for name in service.get("secrets", []):
            variable = declared[name]["environment"]
            assert env.get(variable), f"secret {name} needs {variable}"
            seen.setdefault(name, env[variable])
    volumes = _named_volumes(service)
    for name, value in environment.items():
        if name.startswith("GATEWAY_KAFKA__SSL_") and name.endswith("FILE"):
            assert str(Path(value).parent) in volumes, f"{name}={value} is on no volume"
            placed = local / Path(value).name
            placed.parent.mkdir(parents=True, exist_ok=True)
            placed.write_text("stand-in PEM")
            seen[name] = str(placed)
    return seen


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository file, for the service's bind mounts of repository files."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = (DEPLOY / source).resolve()
    return found


def test_compose_file_passes_the_compose_specification() -> None:
    """The file, as written (before interpolation), is valid against compose-spec.json."""
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)

    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(_compose())
    ]

    assert not errors, "\n".join(errors)


def test_a_broken_compose_file_is_caught() -> None:
    """The schema check is not vacuous: a misspelt key and a wrong type both fail it."""
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    broken = json.loads(json.dumps(_compose()))
    broken["services"]["worker"]["depend_on"] = ["kafka"]
    broken["services"]["webhook"]["ports"] = "127.0.0.1:8080:8080"

    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(broken))

    assert len(errors) >= 2


def test_the_stack_has_every_part() -> None:
    """Kafka, the topics, two workers, the receiver, the tracker, the sandbox (a profile),
    Prometheus and Grafana."""
    services = _services()

    assert {"kafka", "prometheus", "grafana", "sandbox", *GATEWAY_SERVICES} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert services["worker"]["command"] == ["worker"]
    assert services["topics"]["command"] == ["topics", "create"]


def test_images_are_pinned() -> None:
    """Third-party images name a version, never latest; gateway services build deploy/Dockerfile."""
    for name, service in _services().items():
        if "build" in service:
            build = service["build"]
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file(), name
            continue
        image = service["image"]
        assert ":" in image, name
        assert not image.endswith(":latest"), name


def test_dependencies_exist_and_can_be_met() -> None:
    """Every depends_on names a service; one waited for as healthy has a healthcheck (its own
    or the image's HEALTHCHECK); one waited for as completed is a one-shot that exits."""
    services = _services()
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on an unknown service {target}"
            wanted = condition["condition"]
            if wanted == "service_healthy":
                has_check = "healthcheck" in services[target] or "build" in services[target]
                assert has_check, f"{name} waits for {target}, which has no healthcheck"
            if wanted == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} would restart"


def test_mounted_files_exist() -> None:
    """Every bind-mounted repository path exists."""
    for name, service in _services().items():
        for target, source in _mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


@pytest.mark.parametrize(
    "env_file", [None, SANDBOX_ENV], ids=["real-wawp", "sandbox"], scope="module"
)
def test_each_gateway_service_accepts_its_configuration(
    env_file: Path | None, tmp_path: Path
) -> None:
    """Each gateway service's environment, interpolated as Compose would (with a token and
    secret given, or with deploy/compose/sandbox.env), uses only real settings and passes the
    validation its command runs at start-up; the worker's passes check-config."""
    env = (
        _env_file(env_file)
        if env_file
        else {"WAWP_ACCESS_TOKEN": "t", "WEBHOOK_SECRET": "s", "KAFKA_PASSWORD": "k"}
    )
    services = _services()
    for name in sorted(GATEWAY_SERVICES):
        service = services[name]
        environment = _as_started(service, _environment(service, env), env, tmp_path / name)
        gateway = {key for key in environment if key.startswith("GATEWAY_")}
        assert gateway <= known_settings(), (name, sorted(gateway - known_settings()))
        if "GATEWAY_INSTANCES_FILE" in environment:
            mounted = _mounts(service)[environment["GATEWAY_INSTANCES_FILE"]]
            environment["GATEWAY_INSTANCES_FILE"] = str(mounted)
        cls = settings_class(service["command"])
        assert cls is not None, name
        settings = process_settings(cls, environment)
        if isinstance(settings, Settings):
            assert settings.instances.instances
            assert not config_warnings(settings), config_warnings(settings)


def test_sandbox_env_points_the_workers_at_the_sandbox(tmp_path: Path) -> None:
    """With deploy/compose/sandbox.env the sandbox profile is on, the workers call the sandbox
    service with a token the sandbox accepts, and every configured instance exists there."""
    env = _env_file(SANDBOX_ENV)
    services = _services()
    sandbox = services["sandbox"]
    worker = _environment(services["worker"], env)
    token_variable = _compose()["secrets"]["GATEWAY_WAWP__ACCESS_TOKEN"]["environment"]
    command = [_interpolate(arg, env) for arg in sandbox["command"]]
    port = next(a.split("=", 1)[1] for a in command if a.startswith("--port="))
    instances = dict(
        a.removeprefix("--instance=").split("=", 1) for a in command if a.startswith("--instance=")
    )
    configured = process_settings(
        Settings,
        _as_started(services["worker"], worker, env, tmp_path)
        | {
            "GATEWAY_INSTANCES_FILE": str(
                _mounts(services["worker"])["/etc/wawp-gateway/instances.toml"]
            )
        },
    )

    assert "sandbox" in env["COMPOSE_PROFILES"].split(",")
    assert worker["GATEWAY_WAWP__BASE_URL"].startswith(f"http://sandbox:{port}/")
    assert worker["GATEWAY_WAWP__V2_BASE_URL"] == f"http://sandbox:{port}"
    assert set(configured.instances.instances) <= set(instances)
    assert set(instances.values()) == {env[token_variable]}
    assert "GATEWAY_WAWP__ACCESS_TOKEN" in services["worker"]["secrets"]


def test_kafka_is_reachable_where_the_gateway_looks() -> None:
    """The bootstrap address the gateway services use is the Kafka service's advertised
    in-network listener."""
    services = _services()
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    listeners = dict(item.split("://", 1) for item in advertised.split(","))
    for name in GATEWAY_SERVICES:
        bootstrap = _environment(services[name], {})["GATEWAY_KAFKA__BOOTSTRAP_SERVERS"]
        assert bootstrap == listeners["SASL_SSL"], name


def _promtool() -> str:
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None
    )
    if found is None:
        pytest.fail("promtool not found: run `make prometheus` (Debian package prometheus)")
    return found


def test_prometheus_config_is_valid_as_mounted(tmp_path: Path) -> None:
    """The prometheus service's files, laid out as its mounts place them, pass `promtool check
    config` (rule files included), with one wawp-gateway-* job per gateway process on the port
    that process serves its metrics on."""
    service = _services()["prometheus"]
    for target, source in _mounts(service).items():
        placed = tmp_path / target.lstrip("/")
        placed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, placed)
    config_path = tmp_path / "etc" / "prometheus" / "prometheus.yml"

    checked = subprocess.run(
        [_promtool(), "check", "config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "rule files found" in checked.stdout + checked.stderr
    jobs = {
        job["job_name"]: job for job in yaml.safe_load(config_path.read_text())["scrape_configs"]
    }
    metrics, webhook = MetricsSettings().port, WebhookSettings().port
    worker_sd = jobs["wawp-gateway-worker"]["dns_sd_configs"][0]
    assert (worker_sd["names"], worker_sd["port"]) == (["worker"], metrics)
    assert jobs["wawp-gateway-webhook"]["static_configs"][0]["targets"] == [f"webhook:{webhook}"]
    assert jobs["wawp-gateway-tracker"]["static_configs"][0]["targets"] == [f"tracker:{metrics}"]


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus() -> None:
    """The dashboard provider's folder holds the mounted dashboard, and the datasource URL is
    the prometheus service."""
    mounts = _mounts(_services()["grafana"])
    providers = yaml.safe_load(
        mounts["/etc/grafana/provisioning/dashboards/wawp-gateway.yml"].read_text()
    )
    datasources = yaml.safe_load(
        mounts["/etc/grafana/provisioning/datasources/wawp-gateway.yml"].read_text()
    )
    folder = Path(providers["providers"][0]["options"]["path"])
    dashboards = [Path(target) for target in mounts if target.endswith(".json")]

    assert any(path.parent == folder for path in dashboards)
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in _services()


def test_kafka_is_secured_and_the_gateway_logs_in() -> None:
    """Every listener a client reaches is SASL_SSL with SCRAM-SHA-512; the gateway services log
    in with that mechanism over TLS, trusting the CA the kafka service writes to the volume they
    mount, with the password the kafka service creates its user from; no secret is an
    environment value."""
    services = _services()
    kafka = services["kafka"]
    kafka_env = kafka["environment"]
    protocols = dict(
        item.split(":", 1) for item in kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    advertised = [
        item.split("://", 1)[0] for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    ]
    script = _mounts(kafka)["/opt/wawp-gateway/kafka.sh"]
    ca_volume = _named_volumes(kafka)["/mnt/shared/config"]

    assert {protocols[name] for name in advertised} == {"SASL_SSL"}
    assert kafka_env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert kafka["command"] == ["/bin/sh", "/opt/wawp-gateway/kafka.sh"]
    assert "GATEWAY_KAFKA__SASL_PASSWORD" in kafka["secrets"]
    assert "/run/secrets/GATEWAY_KAFKA__SASL_PASSWORD" in script.read_text()
    for name in sorted(GATEWAY_SERVICES):
        service = services[name]
        environment = _environment(service, {})
        settings = KafkaSettings.model_validate(
            {
                key.removeprefix("GATEWAY_KAFKA__").lower(): value
                for key, value in environment.items()
                if key.startswith("GATEWAY_KAFKA__") and not key.endswith("FILE")
            }
            | {"sasl_password": "stand-in"}
        )
        ca = environment["GATEWAY_KAFKA__SSL_CAFILE"]

        assert (settings.security_protocol, settings.sasl_mechanism) == (
            "SASL_SSL",
            "SCRAM-SHA-512",
        )
        assert settings.sasl_username == "wawp-gateway"
        assert f"user={settings.sasl_username}" in script.read_text()
        assert _named_volumes(service)[str(Path(ca).parent)] == ca_volume, name
        assert "GATEWAY_KAFKA__SASL_PASSWORD" in service["secrets"], name
        assert set(service["secrets"]) <= {v for v, _ in secret_settings(Settings)}, name
        leaked = {key for key in environment if key in {v for v, _ in secret_settings(Settings)}}
        assert not leaked, (name, leaked)
