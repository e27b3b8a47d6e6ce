"""Health of a deployment: database, broker, workers and their queues, Beat, LLM.

:func:`build_report` checks each component and says what is wrong. Embedded
mode (no ``CELERY_BROKER_URL``) needs only the database. With a broker, the
broker must answer, at least one worker must answer ``ping``, every queue of
:data:`EXPECTED_QUEUES` must be consumed by some worker, and Beat's last tick
(written by :func:`record_beat_tick` from ``tg_parser.schedule_due_channels``)
must be younger than :data:`BEAT_STALE_AFTER_S`.

The cluster is reached through a :class:`ClusterProbe`, implemented with
Celery in ``tasks/health.py`` (only ``tasks/`` imports celery).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import structlog

from tg_parser.logging import redact

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tg_parser.config import Settings

log = structlog.get_logger(__name__)

EXPECTED_QUEUES: Final = ("celery", "ingest", "process", "topics", "export")
"""Queues the cluster needs consumed (``tasks.app.QUEUES``)."""

BEAT_TICK_KEY: Final = "tg_parser:beat:last_tick"
"""Redis key holding the Unix time (seconds, text) of Beat's last tick."""

BEAT_STALE_AFTER_S: Final = 180.0
"""Beat ticks every 60 s; three missed ticks make it stale."""

INSPECT_TIMEOUT_S: Final = 1.5
"""How long ``ping``/``active_queues`` wait for worker replies."""

REDIS_TIMEOUT_S: Final = 2.0

OK: Final = "ok"
FAIL: Final = "fail"
SKIPPED: Final = "skipped"
NOT_CHECKED: Final = "not checked"


@dataclass(frozen=True)
class ComponentHealth:
    """The state of one component.

    Attributes:
        component: ``database``, ``broker``, ``workers``, ``queues``, ``beat``, ``llm``, ``worker``.
        status: ``ok``, ``fail``, ``skipped`` (not used in this mode) or ``not checked``.
        detail: What was found, for humans (secrets masked).
        required: Whether the deployment is unhealthy when this is not ``ok``.
    """

    component: str
    status: str
    detail: str
    required: bool

    @property
    def healthy(self) -> bool:
        """True unless this component is required and not ``ok``."""
        return self.status == OK or not self.required


@dataclass(frozen=True)
class HealthReport:
    """Every component's state; healthy when every required one is ``ok``.

    Attributes:
        mode: ``embedded`` or ``cluster``.
        components: One entry per component, in check order.
    """

    mode: str
    components: tuple[ComponentHealth, ...]

    @property
    def healthy(self) -> bool:
        """True when every required component is ``ok``."""
        return all(c.healthy for c in self.components)

    @property
    def problems(self) -> list[ComponentHealth]:
        """The required components that are not ``ok``."""
        return [c for c in self.components if not c.healthy]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: ``{"healthy", "mode", "components": [...]}``."""
        return {
            "healthy": self.healthy,
            "mode": self.mode,
            "components": [asdict(c) for c in self.components],
        }


class ClusterProbe(Protocol):
    """What the health check needs from the Celery cluster."""

    def check_broker(self) -> None:
        """Connect to the broker once.

        Raises:
            Exception: Any error when the broker cannot be reached.
        """

    def active_queues(self) -> dict[str, list[str]]:
        """Ask live workers (ping, then ``active_queues``) which queues they consume.

        Returns:
            ``{worker hostname: [queue names]}``; empty when no worker answered.
        """


def _error_text(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}".strip())[:500]


def check_database(database_url: str) -> ComponentHealth:
    """Check the database is reachable and migrated to the newest revision.

    Args:
        database_url: A SQLAlchemy URL.

    Returns:
        ``ok`` with the revision, or ``fail`` saying what is wrong.
    """
    from tg_parser.storage import migrate
    from tg_parser.storage.ops_queries import ping_database

    where = _describe_url(database_url)
    try:
        ping_database(database_url)
        current = migrate.current_revision(database_url)
        head = migrate.head_revision(database_url)
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return ComponentHealth("database", FAIL, f"{where} unreachable: {_error_text(exc)}", required=True)
    if current != head:
        return ComponentHealth(
            "database",
            FAIL,
            f"{where} at revision {current or 'none (empty)'}, newest is {head}; run `tg-parser db upgrade`",
            required=True,
        )
    return ComponentHealth("database", OK, f"{where} reachable, migrated to head ({head})", required=True)


def _describe_url(url: str) -> str:
    """Return ``dialect host/db`` (or the SQLite path) without credentials."""
    scheme, _, rest = url.partition("://")
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        path = rest.removeprefix("/")
        return f"sqlite {path or ':memory:'}"
    return f"{dialect} {rest.rsplit('@', 1)[-1]}"


def check_broker(probe: ClusterProbe, broker_url: str) -> ComponentHealth:
    """Check the broker accepts a connection.

    Args:
        probe: The cluster probe.
        broker_url: ``CELERY_BROKER_URL``, only shown (credentials masked).

    Returns:
        ``ok`` or ``fail`` naming the broker.
    """
    where = _describe_url(broker_url)
    try:
        probe.check_broker()
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return ComponentHealth("broker", FAIL, f"{where} unreachable: {_error_text(exc)}", required=True)
    return ComponentHealth("broker", OK, f"{where} reachable", required=True)


def evaluate_workers(
    queues_by_worker: Mapping[str, Sequence[str]], *, expected: Sequence[str] = EXPECTED_QUEUES
) -> tuple[ComponentHealth, ComponentHealth]:
    """Judge the workers and the queues they consume.

    Args:
        queues_by_worker: ``{hostname: [queue names]}`` of the workers that answered.
        expected: Queues that must each be consumed by at least one worker.

    Returns:
        ``(workers, queues)`` components.
    """
    if not queues_by_worker:
        none = "no worker answered ping"
        return (
            ComponentHealth("workers", FAIL, none, required=True),
            ComponentHealth("queues", FAIL, f"{none}; nothing consumes {', '.join(expected)}", required=True),
        )
    names = sorted(queues_by_worker)
    workers = ComponentHealth("workers", OK, f"{len(names)} alive: {', '.join(names)}", required=True)
    consumers = {q: sorted(w for w, qs in queues_by_worker.items() if q in qs) for q in expected}
    orphans = [q for q, ws in consumers.items() if not ws]
    if orphans:
        queues = ComponentHealth("queues", FAIL, f"no worker consumes: {', '.join(orphans)}", required=True)
    else:
        counts = ", ".join(f"{q}: {len(ws)}" for q, ws in consumers.items())
        queues = ComponentHealth("queues", OK, f"every queue consumed ({counts})", required=True)
    return workers, queues


def _redis_client(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        redis_url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )


def record_beat_tick(redis_url: str | None, *, now: float | None = None) -> bool:
    """Record that Beat ticked: Unix time into :data:`BEAT_TICK_KEY`.

    Called from ``tg_parser.schedule_due_channels`` on every tick. A Redis
    failure is logged, never raised: the tick's real work must go on.

    Args:
        redis_url: ``settings.redis_url``; ``None`` records nothing.
        now: Unix time in seconds (default: the current time).

    Returns:
        Whether the tick was recorded.
    """
    if not redis_url:
        return False
    client = _redis_client(redis_url)
    try:
        client.set(BEAT_TICK_KEY, f"{time.time() if now is None else now:.3f}")
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not break the tick
        log.warning("beat_tick_not_recorded", error=_error_text(exc))
        return False
    finally:
        client.close()
    return True


def check_beat(
    redis_url: str | None, *, now: float | None = None, stale_after_s: float = BEAT_STALE_AFTER_S
) -> ComponentHealth:
    """Check Beat ticked within ``stale_after_s``.

    Args:
        redis_url: ``settings.redis_url``; ``None`` means the tick cannot be read.
        now: Unix time in seconds (default: the current time).
        stale_after_s: Oldest acceptable tick age in seconds.

    Returns:
        ``ok`` with the tick's age, ``fail`` when stale, never recorded or
        unreadable, ``not checked`` when there is no Redis to read it from.
    """
    if redis_url is None:
        return ComponentHealth(
            "beat",
            NOT_CHECKED,
            "the tick is kept in Redis; none configured (REDIS_URL, or a Redis broker or result backend)",
            required=False,
        )
    client = _redis_client(redis_url)
    try:
        raw = client.get(BEAT_TICK_KEY)
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return ComponentHealth("beat", FAIL, f"cannot read the last tick: {_error_text(exc)}", required=True)
    finally:
        client.close()
    if raw is None:
        return ComponentHealth(
            "beat", FAIL, "no tick recorded: is `celery -A tasks beat` running?", required=True
        )
    age_s = (time.time() if now is None else now) - float(raw)
    if age_s > stale_after_s:
        return ComponentHealth(
            "beat", FAIL, f"stale: last tick {age_s:.0f} s ago (limit {stale_after_s:.0f} s)", required=True
        )
    return ComponentHealth("beat", OK, f"last tick {max(0.0, age_s):.0f} s ago", required=True)


def check_llm(settings: Settings) -> ComponentHealth:
    """Report the LLM provider. Offline needs nothing; providers are not called (a stub).

    Args:
        settings: Settings (``LLM_PROVIDER``, ``LLM_MODEL``).

    Returns:
        ``ok`` for offline, else ``not checked`` (not required).
    """
    llm = settings.llm
    if llm.llm_provider == "offline":
        return ComponentHealth("llm", OK, "offline processor: nothing to reach", required=False)
    return ComponentHealth(
        "llm", NOT_CHECKED, f"{llm.llm_provider} ({llm.model}): reachability not checked", required=False
    )


def _cluster_components(
    settings: Settings, probe_factory: Callable[[], ClusterProbe] | None, now: float | None
) -> list[ComponentHealth]:
    """Check broker, workers and queues, and Beat (cluster mode)."""
    out: list[ComponentHealth] = []
    try:
        probe = None if probe_factory is None else probe_factory()
    except Exception as exc:  # noqa: BLE001 - a broken Celery setup is a finding
        probe = None
        detail = f"cannot set up Celery: {_error_text(exc)}"
        out.append(ComponentHealth("broker", FAIL, detail, required=True))
    else:
        if probe is None:
            out.append(ComponentHealth("broker", NOT_CHECKED, "no cluster probe given", required=True))
    if probe is not None:
        broker = check_broker(probe, settings.celery_broker_url or "")
        out.append(broker)
        if broker.status != OK:
            out.append(ComponentHealth("workers", FAIL, "not checked: broker unreachable", required=True))
        else:
            try:
                out += evaluate_workers(probe.active_queues())
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                detail = f"inspect failed: {_error_text(exc)}"
                out.append(ComponentHealth("workers", FAIL, detail, required=True))
    out.append(check_beat(settings.redis_url, now=now))
    return out


def build_report(
    settings: Settings,
    *,
    probe_factory: Callable[[], ClusterProbe] | None,
    include_llm: bool = False,
    now: float | None = None,
) -> HealthReport:
    """Check every component that matters in this mode.

    Args:
        settings: Settings.
        probe_factory: Builds the cluster probe; called only with a broker
            configured (``None`` then means the cluster cannot be checked).
        include_llm: Also report the LLM provider.
        now: Unix time in seconds for the Beat check (default: the current time).

    Returns:
        The report; see :attr:`HealthReport.healthy`.
    """
    components = [check_database(settings.database_url)]
    if settings.embedded:
        skipped = "embedded mode (no CELERY_BROKER_URL)"
        components += [
            ComponentHealth("broker", SKIPPED, skipped, required=False),
            ComponentHealth("workers", SKIPPED, skipped + ": tasks run in-process", required=False),
            ComponentHealth("beat", SKIPPED, skipped, required=False),
        ]
    else:
        components += _cluster_components(settings, probe_factory, now)
    if include_llm:
        components.append(check_llm(settings))
    components += _accounts(settings)
    report = HealthReport(mode="embedded" if settings.embedded else "cluster", components=tuple(components))
    log.info("health_checked", healthy=report.healthy, problems=[c.component for c in report.problems])
    return report


def _accounts(settings: Settings) -> list[ComponentHealth]:
    """Return the ``telegram_accounts`` component when named accounts exist (issue 13), else nothing."""
    from tg_parser.services.accounts import accounts_component

    try:
        found = accounts_component(settings)
    except Exception as exc:  # noqa: BLE001 - the database check above already reports why
        return [ComponentHealth("telegram_accounts", NOT_CHECKED, redact(str(exc))[:200], required=False)]
    if found is None:
        return []
    status, detail, required = found
    return [ComponentHealth("telegram_accounts", OK if status == "ok" else FAIL, detail, required=required)]


def worker_report(settings: Settings, *, hostname: str) -> HealthReport:
    """Health as seen from inside a worker: its database and its name.

    Args:
        settings: The worker's settings.
        hostname: The worker's node name (``celery@host``).

    Returns:
        A report with ``database`` and ``worker`` components.
    """
    components = (
        check_database(settings.database_url),
        ComponentHealth("worker", OK, hostname, required=True),
    )
    return HealthReport(mode="worker", components=components)


def launcher_probe(settings: Settings) -> ClusterProbe:
    """Return the cluster launcher's broker/worker probe (the report turns a failure here into a finding).

    Raises:
        ConfigurationError: No cluster launcher is installed, or it has no probe.
    """
    from tg_parser.errors import ConfigurationError
    from tg_parser.services.launch import get_launcher

    probe = get_launcher(settings).cluster_probe()
    if probe is None:
        msg = "the launcher has no cluster probe"
        raise ConfigurationError(msg)
    return probe


def deployment_report(settings: Settings, *, include_llm: bool = False) -> HealthReport:
    """Check this deployment as ``tg-parser health`` and ``GET /status/detailed`` do.

    Args:
        settings: Settings (embedded without ``CELERY_BROKER_URL``: the database only).
        include_llm: Also report the LLM provider.

    Returns:
        The report.
    """
    return build_report(
        settings,
        probe_factory=None if settings.embedded else (lambda: launcher_probe(settings)),
        include_llm=include_llm,
    )
