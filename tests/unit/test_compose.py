"""Static checks of the deployment files: docker-compose.yml, the Dockerfile, deploy/k8s, Grafana.

Docker and Kubernetes are not run here; these tests read the files and check
the promises the operations docs make (health checks, one beat, workers that
scale, Flower behind auth, grace periods longer than the task time limit).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tg_parser.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
DASHBOARD = ROOT / "deploy" / "grafana" / "tg_parser_dashboard.json"

APP_SERVICES = ("migrate", "worker", "beat", "flower", "api")
QUEUES = {"ingest", "process", "topics", "export", "celery"}
COMMON_ENV = {
    "DATABASE_URL": "postgresql+psycopg://tg:tg@postgres:5432/tg_parser",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
    "CELERY_RESULT_BACKEND": "redis://redis:6379/1",
    "LOG_FORMAT": "json",
}
TASK_TIME_LIMIT_S = Settings.model_fields["task_time_limit_s"].default

_VAR = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")


class InterpolationError(Exception):
    """A ``${VAR:?message}`` variable is unset, as docker compose would report."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Resolve ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` the way compose does.

    Raises:
        InterpolationError: A required variable is unset or empty.

    """

    def resolve(match: re.Match[str]) -> str:
        value = env.get(match["name"], "")
        if match["op"] == ":-" and not value:
            return match["arg"]
        if match["op"] == ":?" and not value:
            raise InterpolationError(match["arg"])
        return value

    return _VAR.sub(resolve, text)


def command_text(service: dict[str, object]) -> str:
    """Return a service's command as one string (list or string form)."""
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else str(command)


def duration_s(text: str) -> float:
    """Parse a compose duration such as ``11m``, ``660s`` or ``1m30s`` into seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts, text
    return sum(float(n) * units[u] for n, u in parts)


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    """Return docker-compose.yml parsed with PyYAML (anchors and merge keys resolved)."""
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, object]]:
    """Return the compose services by name."""
    return compose["services"]


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, object]]:
    """Return every Kubernetes object under deploy/k8s keyed by (kind, name)."""
    objects = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def test_compose_has_the_services(services):
    """Compose defines postgres, redis, migrate, worker, beat, flower and api."""
    assert set(services) == {"postgres", "redis", *APP_SERVICES}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_image_build_and_env(services, name):
    """Each app service builds deploy/Dockerfile and gets the shared connection env."""
    service = services[name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    for key, value in COMMON_ENV.items():
        assert service["environment"][key] == value


def test_postgres_and_redis_have_health_checks_and_volumes(compose, services):
    """postgres:16 checks pg_isready, redis:7 pings, both keep data in named volumes."""
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert redis["image"] == "redis:7"
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    for service in (postgres, redis):
        volume = service["volumes"][0].split(":")[0]
        assert volume in compose["volumes"]


def test_migrate_runs_once_after_postgres_is_healthy(services):
    """Migrate runs `tg-parser db upgrade` once, after postgres is healthy, and is not restarted."""
    migrate = services["migrate"]
    assert command_text(migrate) == "tg-parser db upgrade"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_wait_for_migration(services, name):
    """Worker and beat start only after migrate completed and postgres/redis are healthy."""
    depends = services[name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


def test_worker_is_scalable_and_consumes_every_queue(services):
    """The worker has no container_name or host ports, sends events and consumes all queues."""
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    command = command_text(worker).split()
    assert command[:4] == ["celery", "-A", "tasks", "worker"]
    assert "-E" in command
    assert set(command[command.index("-Q") + 1].split(",")) == QUEUES
    assert duration_s(worker["stop_grace_period"]) > TASK_TIME_LIMIT_S
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])


def test_api_serves_on_all_interfaces_after_migration_with_a_health_check(services):
    """The api service runs `tg-parser api serve` on 0.0.0.0:8000, waits for the migration, probes /health."""
    api = services["api"]
    assert command_text(api) == "tg-parser api serve --host 0.0.0.0 --port 8000"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert api["ports"][0].endswith(":8000")
    assert "exports:/data/exports" in api["volumes"]


def test_beat_runs_exactly_once(services):
    """Beat runs `celery -A tasks beat` with deploy.replicas 1."""
    beat = services["beat"]
    assert command_text(beat).startswith("celery -A tasks beat")
    assert beat["deploy"]["replicas"] == 1
    assert "container_name" not in beat


def test_flower_refuses_to_start_without_basic_auth(services):
    """Flower's --basic-auth is ${FLOWER_BASIC_AUTH:?...}: unset fails, set is passed through."""
    flower = services["flower"]
    command = command_text(flower)
    assert command.startswith("celery -A tasks flower")
    with pytest.raises(InterpolationError, match="FLOWER_BASIC_AUTH"):
        interpolate(command, {})
    resolved = interpolate(command, {"FLOWER_BASIC_AUTH": "admin:s3cret"})
    assert "--basic-auth=admin:s3cret" in resolved.split()
    assert interpolate(flower["ports"][0], {}).endswith(":5555")


def test_no_service_is_privileged_or_fixed_name(services):
    """No service sets container_name (blocks scaling) or runs privileged."""
    for service in services.values():
        assert "container_name" not in service
        assert not service.get("privileged", False)


def test_dockerfile_is_multistage_slim_nonroot_with_cached_deps():
    """The Dockerfile is multi-stage python:3.11-slim, installs deps before the source, runs as non-root."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert len(re.findall(r"^FROM ", text, flags=re.MULTILINE)) >= 2
    deps = text.index("COPY pyproject.toml")
    source = text.index("COPY . .")
    assert deps < text.index("pip install -r") < source < text.index("pip install --no-deps .")
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in text
    assert (ROOT / "deploy" / "docker-entrypoint.sh").stat().st_mode & 0o111


def test_dockerignore_keeps_secrets_and_local_state_out():
    """.dockerignore excludes .env, the venv, git metadata and local databases."""
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", "**/.venv", "**/.git", "*.db", "*.session"} <= patterns


def test_k8s_worker_grace_period_exceeds_task_time_limit(manifests):
    """The worker Deployment waits longer than the task time limit and pings itself for liveness."""
    config = manifests[("ConfigMap", "tg-parser-config")]["data"]
    limit_s = int(config["TASK_TIME_LIMIT_S"])
    assert limit_s == TASK_TIME_LIMIT_S
    spec = manifests[("Deployment", "tg-parser-worker")]["spec"]
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > limit_s
    assert "replicas" not in spec  # KEDA owns the replica count
    container = pod["containers"][0]
    args = container["args"]
    assert set(args[args.index("-Q") + 1].split(",")) == QUEUES
    probe = " ".join(container["livenessProbe"]["exec"]["command"])
    assert "inspect ping -d celery@$HOSTNAME" in probe
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_k8s_beat_is_single_and_recreated(manifests):
    """Beat runs one replica with the Recreate strategy, so two never overlap in a rollout."""
    spec = manifests[("Deployment", "tg-parser-beat")]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"


def test_k8s_flower_requires_auth_and_has_a_service(manifests):
    """Flower takes basic auth from a required Secret key and is exposed by a Service on 5555."""
    pod = manifests[("Deployment", "tg-parser-flower")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--basic-auth=$(FLOWER_BASIC_AUTH)" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert ref["optional"] is False
    service = manifests[("Service", "tg-parser-flower")]
    assert service["spec"]["ports"][0]["port"] == 5555


def test_k8s_api_probes_health_and_has_a_service(manifests):
    """The API Deployment serves on 8000, probes /health, mounts the shared exports and has a Service."""
    pod = manifests[("Deployment", "tg-parser-api")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert [*container["command"], *container["args"]][:3] == ["tg-parser", "api", "serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "exports", "mountPath": "/data/exports"} in container["volumeMounts"]
    assert manifests[("Service", "tg-parser-api")]["spec"]["ports"][0]["port"] == 8000


def test_k8s_migrate_job_and_keda_scaling(manifests):
    """A Job runs migrations; KEDA scales the worker Deployment on the Redis queue lists."""
    job = manifests[("Job", "tg-parser-migrate")]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["tg-parser", "db", "upgrade"]
    scaled = manifests[("ScaledObject", "tg-parser-worker")]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "tg-parser-worker"
    assert ("Deployment", scaled["scaleTargetRef"]["name"]) in manifests
    lists = {t["metadata"]["listName"] for t in scaled["triggers"] if t["type"] == "redis"}
    assert {"process", "ingest", "topics", "export"} <= lists


def test_k8s_secret_example_holds_placeholders_only(manifests):
    """The example Secret carries placeholders, never a real-looking credential."""
    data = manifests[("Secret", "tg-parser-secrets")]["stringData"]
    for key, value in data.items():
        assert "CHANGE_ME" in value or value == "0", key


def test_k8s_pods_run_as_non_root(manifests):
    """Every pod template runs as a non-root user without privilege escalation."""
    for (kind, name), doc in manifests.items():
        if kind not in {"Deployment", "Job"}:
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_grafana_dashboard_queries_every_metric():
    """The dashboard is valid JSON with unique panel ids and queries each pipeline and Flower metric."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    exprs = " ".join(t["expr"] for p in panels for t in p.get("targets", []))
    for metric in (
        "tg_parser_posts_ingested_total",
        "tg_parser_posts_processed_total",
        "tg_parser_posts_failed_total",
        "tg_parser_dead_letters_total",
        "tg_parser_llm_tokens_total",
        "tg_parser_llm_cost_usd_total",
        "tg_parser_run_duration_seconds_bucket",
        "flower_events_total",
        "flower_task_runtime_seconds_bucket",
    ):
        assert metric in exprs, metric
    for label in ("by (channel)", "by (provider, model, direction)", "by (provider, model)"):
        assert label in exprs, label
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "channel"} <= variables
