"""Deploy configuration: the image, compose and Kubernetes stay valid and cover every part.

No Docker engine or cluster runs here; everything is checked offline: compose against the
compose-spec schema (check-jsonschema), the kustomize renderings against the Kubernetes API
schemas (kubernetes-validate), and all of them against the code (services, `Settings`).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped, unused-ignore]
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"
PRODUCTION_SECRETS_EXAMPLE = K8S / "overlays" / "production" / "secrets.env.example"

SERVICES = ("gateway", "registry", "transactions", "charging", "webhooks", "api")
CONSUMERS = ("registry", "transactions", "charging")
REQUIRED_SECRETS = (
    "POSTGRES_PASSWORD",
    "RABBITMQ_PASSWORD",
    "CSMS_ADMIN_PASSWORD",
    "CSMS_JWT_SECRET",
)
# Schemas kubernetes-validate ships offline; 1.32 is the kubectl client here and a version
# every supported managed Kubernetes still runs.
K8S_VERSION = "1.32"
SETTINGS = sorted(f"CSMS_{name.upper()}" for name in Settings.model_fields)
SETTING_RE = re.compile(r"\bCSMS_[A-Z0-9_]+\b")


def _default(field: str) -> Any:
    return Settings.model_fields[field].default


# The port each service answers /healthz and /readyz on, from the code's defaults.
HEALTH_PORTS = {
    "gateway": _default("gateway_port"),
    "registry": _default("registry_health_port"),
    "transactions": _default("transactions_health_port"),
    "charging": _default("charging_health_port"),
    "webhooks": _default("webhooks_health_port"),
    "api": _default("api_port"),
}


def _tool(name: str) -> str:
    """A console script of this venv (next to the running interpreter), else from PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run `make install`")
    return found


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Build Settings from exactly these variables (no process environment, no .env file)."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file, comments and blank lines skipped."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- Dockerfile --------------------------------------------------------------------------


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per build stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args.strip()))
    return stages


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    text = DOCKERFILE.read_text()
    # A `# syntax=` line makes BuildKit fetch a frontend image from Docker Hub.
    assert not re.search(r"^#\s*syntax=", text, re.MULTILINE | re.IGNORECASE)
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", text)
    for stage in stages:
        assert stage[0][1].startswith("${PYTHON_IMAGE}")
    build = " ".join(args for stage in stages[:-1] for instr, args in stage if instr == "RUN")
    assert "pip install -c constraints.txt ." in build


def test_dockerfile_final_stage_is_non_root_without_build_tools() -> None:
    final = _dockerfile_stages()[-1]
    users = [args for instr, args in final if instr == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert users[-1].split(":")[0] == "10001"
    runs = " ".join(args for instr, args in final if instr == "RUN")
    for tool in ("apt-get install", "apk add", "gcc", "build-essential", "pip install", "make "):
        assert tool not in runs, f"build tool in the final stage: {tool}"
    copies = [args for instr, args in final if instr in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/venv /opt/venv"], copies
    assert ("ENTRYPOINT", '["csms"]') in final
    assert all(instr not in ("CMD", "HEALTHCHECK") for instr, _ in final)


def test_dockerfile_exposes_every_service_port() -> None:
    final = _dockerfile_stages()[-1]
    exposed = {int(p) for instr, args in final if instr == "EXPOSE" for p in args.split()}
    assert exposed == set(HEALTH_PORTS.values())


def test_dockerignore_keeps_secrets_and_venv_out_of_the_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", (
        "allow-list: exclude everything, then re-include what the build needs"
    )
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert included == {"pyproject.toml", "constraints.txt", "README.md", "shared", "services"}


# --- docker compose ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_validates_against_the_compose_spec() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_service_from_the_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # One image, built once: only `migrate` builds it, everyone else reuses it by name.
    built = [name for name, service in services.items() if "build" in service]
    assert built == ["migrate"]
    build = services["migrate"]["build"]
    assert (build["context"], build["dockerfile"]) == ("..", "deploy/Dockerfile")
    assert build["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim-bookworm}"
    for name in (*SERVICES, "migrate", "proxy"):
        service = services[name]
        assert service["image"] == services["migrate"]["image"]
        assert service["environment"] == compose["x-csms-env"]
    for name in SERVICES:
        # ENTRYPOINT ["csms"] + command -> `csms <service>`
        assert services[name]["command"] == [name]
    assert services["migrate"]["command"] == ["migrate", "--create-database"]
    assert services["migrate"]["restart"] == "no"


def test_compose_healthchecks_and_startup_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "${POSTGRES_IMAGE:-postgres:16}"
    assert services["rabbitmq"]["image"] == "${RABBITMQ_IMAGE:-rabbitmq:3.13-management}"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["rabbitmq"]["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q", "ping"]
    for infra, path in (
        ("postgres", "/var/lib/postgresql/data"),
        ("rabbitmq", "/var/lib/rabbitmq"),
    ):
        volume, _, target = services[infra]["volumes"][0].partition(":")
        assert target == path and volume in compose["volumes"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in SERVICES:
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{HEALTH_PORTS[name]}/healthz" in test, name
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    # `--scale gateway=N`: no gateway publishes a host port; the proxy publishes 9000 for all.
    assert "ports" not in services["gateway"]
    assert services["proxy"]["ports"] == ["${GATEWAY_PUBLISHED_PORT:-9000}:9000"]
    assert services["proxy"]["command"][:1] == ["proxy"]
    assert "gateway:9000" in services["proxy"]["command"]
    assert "8000" in services["api"]["ports"][0].rsplit(":", 1)[-1]


def test_compose_requires_the_secrets() -> None:
    text = COMPOSE.read_text()
    for name in REQUIRED_SECRETS:
        assert "${" + name + ":?" in text, f"{name} must be required with ${{{name}:?...}}"
        assert not re.search(r"\$\{" + name + r":-", text), f"{name} must have no default"
    example = _env_file(ENV_EXAMPLE)
    for name in REQUIRED_SECRETS:
        assert example.get(name) == "", f".env.example must leave {name} empty"


def test_every_setting_is_configured_in_compose(compose: dict[str, Any]) -> None:
    env = set(compose["x-csms-env"])
    documented = set(SETTING_RE.findall(ENV_EXAMPLE.read_text()))
    missing = [name for name in SETTINGS if name not in env and name not in documented]
    assert not missing, f"settings without compose config or .env.example entry: {missing}"
    unknown = sorted((env | documented) - set(SETTINGS))
    assert not unknown, f"CSMS_* variables that are not settings: {unknown}"
    assert compose["x-csms-env"]["CSMS_ENV"] == "production"


def _interpolate(value: str) -> str:
    """Compose interpolation with the defaults, and a sample value for required variables."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if op == ":?":
            return f"sample-{name.lower().replace('_', '-')}-0123456789"
        return arg if op == ":-" else ""

    return re.sub(r"\$\{([A-Z0-9_]+)(:\?|:-)?([^}]*)\}", one, value)


def test_compose_environment_is_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {name: _interpolate(str(value)) for name, value in compose["x-csms-env"].items()}
    settings = _settings_from(env, monkeypatch)
    assert settings.env == "production"
    assert settings.database_url.startswith("postgresql+asyncpg://csms:sample-postgres-password")
    assert "@postgres:5432/" in settings.database_url
    assert "@rabbitmq:5672/" in settings.amqp_url


# --- Kubernetes --------------------------------------------------------------------------


def _kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render the kustomize manifests")
    result = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return _kustomize(K8S / "base")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    # The overlay reads its secrets from secrets.env, which operators create and git ignores:
    # render a copy with the example in its place.
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env"))
    overlay = copy / "overlays" / "production"
    shutil.copy(overlay / "secrets.env.example", overlay / "secrets.env")
    return _kustomize(overlay)


@pytest.fixture(params=["base", "production"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = request.getfixturevalue(request.param)
    return docs


def _of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "Job"):
        for name, doc in _of_kind(docs, kind).items():
            yield name, doc["spec"]["template"]["spec"]


def _generated(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, f"one {kind} {prefix}*"
    return found[0]


def _secret_values(docs: list[dict[str, Any]]) -> dict[str, str]:
    secret = _generated(docs, "Secret", "csms-secrets")
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_manifests_pass_kubernetes_validate(rendered: list[dict[str, Any]]) -> None:
    assert rendered
    for doc in rendered:
        kn = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked by tests/unit/deploy/test_monitoring.py
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kn}: {exc.message} at {list(exc.path)}")


def test_every_service_is_deployed_with_its_command(rendered: list[dict[str, Any]]) -> None:
    deployments = _of_kind(rendered, "Deployment")
    assert set(deployments) == {f"csms-{name}" for name in SERVICES}
    for name in SERVICES:
        (container,) = deployments[f"csms-{name}"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["csms", name]
        assert "args" not in container
    job = _of_kind(rendered, "Job")["csms-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["csms", "migrate"]


def test_images_come_from_kustomize(
    base: list[dict[str, Any]], production: list[dict[str, Any]]
) -> None:
    def images(docs: list[dict[str, Any]]) -> set[str]:
        return {c["image"] for _, spec in _pod_specs(docs) for c in spec["containers"]}

    assert images(base) == {"csms:latest"}
    (image,) = images(production)
    assert not image.endswith(":latest")


def test_pods_are_probed_secured_and_sized(rendered: list[dict[str, Any]]) -> None:
    deployments = _of_kind(rendered, "Deployment")
    for name in SERVICES:
        spec = deployments[f"csms-{name}"]["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert HEALTH_PORTS[name] in ports.values(), name
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert ports.get(get["port"], get["port"]) == HEALTH_PORTS[name], (name, probe)
    for name, spec in _pod_specs(rendered):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (name, kind)
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, name  # writable scratch on a read-only root


def test_gateway_drains_and_names_its_node(rendered: list[dict[str, Any]]) -> None:
    spec = _of_kind(rendered, "Deployment")["csms-gateway"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = _default("upstream_call_timeout")
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + drain + 10
    node_id = {e["name"]: e for e in container["env"]}["CSMS_GATEWAY_NODE_ID"]
    assert node_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_services_pdbs_and_autoscalers(
    base: list[dict[str, Any]], production: list[dict[str, Any]]
) -> None:
    for docs, gateway_type in ((base, "ClusterIP"), (production, "LoadBalancer")):
        services = _of_kind(docs, "Service")
        assert services["csms-gateway"]["spec"]["type"] == gateway_type
        assert [p["port"] for p in services["csms-gateway"]["spec"]["ports"]] == [9000]
        assert [p["port"] for p in services["csms-api"]["spec"]["ports"]] == [8000]
        assert "sessionAffinity" not in services["csms-gateway"]["spec"]
        pdbs = _of_kind(docs, "PodDisruptionBudget")
        assert set(pdbs) == {f"csms-{name}" for name in SERVICES}
        hpas = _of_kind(docs, "HorizontalPodAutoscaler")
        assert set(hpas) == {f"csms-{name}" for name in ("gateway", *CONSUMERS)}
        for name, hpa in hpas.items():
            assert hpa["apiVersion"] == "autoscaling/v2"
            assert hpa["spec"]["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
            }
            # the autoscaler owns the replica count
            assert "replicas" not in _of_kind(docs, "Deployment")[name]["spec"]
    assert (
        _of_kind(production, "HorizontalPodAutoscaler")["csms-gateway"]["spec"]["minReplicas"] >= 2
    )
    assert _of_kind(production, "Deployment")["csms-api"]["spec"]["replicas"] >= 2
    assert {d["metadata"].get("namespace") for d in base} == {None}
    assert {d["metadata"].get("namespace") for d in production if d["kind"] != "Namespace"} == {
        "csms"
    }


def test_every_setting_is_configured_in_k8s(rendered: list[dict[str, Any]]) -> None:
    config = _generated(rendered, "ConfigMap", "csms-config")
    secret = _generated(rendered, "Secret", "csms-secrets")
    for name, spec in _pod_specs(rendered):
        for container in spec["containers"]:
            refs = container["envFrom"]
            assert {"configMapRef": {"name": config["metadata"]["name"]}} in refs, name
            assert {"secretRef": {"name": secret["metadata"]["name"]}} in refs, name
    pod_env = {
        e["name"]
        for _, spec in _pod_specs(rendered)
        for c in spec["containers"]
        for e in c.get("env", [])
    }
    configured = set(config["data"]) | set(secret["data"]) | pod_env
    missing = [name for name in SETTINGS if name not in configured]
    assert not missing, f"settings without a ConfigMap/Secret/env entry in k8s: {missing}"
    unknown = sorted(configured - set(SETTINGS))
    assert not unknown, f"CSMS_* variables that are not settings: {unknown}"
    secret_names = {"CSMS_DATABASE_URL", "CSMS_AMQP_URL", "CSMS_ADMIN_PASSWORD", "CSMS_JWT_SECRET"}
    assert set(secret["data"]) == secret_names
    assert not secret_names & set(config["data"])


def test_k8s_production_config_is_valid_settings(
    production: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _generated(production, "ConfigMap", "csms-config")["data"]
    env = {**config, **_secret_values(production), "CSMS_GATEWAY_NODE_ID": "csms-gateway-abc12"}
    assert _secret_values(production) == _env_file(PRODUCTION_SECRETS_EXAMPLE)
    settings = _settings_from(env, monkeypatch)
    assert settings.env == "production"
    assert settings.log_format == "json"


def test_k8s_base_placeholders_are_refused_in_production(
    base: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _generated(base, "ConfigMap", "csms-config")["data"]
    env = {**config, **_secret_values(base)}
    assert env["CSMS_ENV"] == "production"
    with pytest.raises(ValidationError, match="development default"):
        _settings_from(env, monkeypatch)


def test_docs_name_the_deploy_commands() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    for command in (
        "cp deploy/.env.example .env",
        "make up",
        "kubectl apply -k deploy/k8s/overlays/production",
    ):
        assert command in text, command
