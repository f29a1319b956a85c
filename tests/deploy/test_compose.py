"""deploy/compose.yaml: `docker-compose config` accepts it, and it starts things in the right order;
broken copies are rejected."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.checks import SERVICES
from tests.deploy.tools import DEPLOY, compose_config

COMPOSE = DEPLOY / "compose.yaml"
MIGRATIONS = [f"{s}-migrate" for s in SERVICES]


def compose_violations(config: dict[str, Any]) -> list[str]:
    """Start order, health checks and hardening of a resolved compose file (`docker-compose config`)."""
    out: list[str] = []
    services = config.get("services", {})
    for needed in ("kafka", "postgres", "mailpit", "topics", *MIGRATIONS, *SERVICES):
        if needed not in services:
            out.append(f"service {needed} missing")
    if out:
        return out

    def depends(name: str) -> dict[str, str]:
        value = services[name].get("depends_on") or {}
        if isinstance(value, list):  # the short form has no conditions
            return {d: "service_started" for d in value}
        return {k: (v or {}).get("condition", "service_started") for k, v in value.items()}

    kafka_env = services["kafka"].get("environment") or {}
    if not services["kafka"]["image"].startswith("apache/kafka:") or "controller" not in kafka_env.get(
            "KAFKA_PROCESS_ROLES", ""):
        out.append("kafka: the apache/kafka image in KRaft mode (KAFKA_PROCESS_ROLES with controller)")
    for name in ("kafka", "postgres", "mailpit", *SERVICES):
        if not (services[name].get("healthcheck") or {}).get("test"):
            out.append(f"{name}: no healthcheck")
    if depends("topics").get("kafka") != "service_healthy":
        out.append("topics: must wait for kafka to be healthy")
    for name in SERVICES:
        service = services[name]
        command = service.get("command") or []
        if command[-2:] != [f"services.{name}", "serve"]:
            out.append(f"{name}: command must run services.{name} serve")
        expected = {"kafka": "service_healthy", "postgres": "service_healthy",
                    "topics": "service_completed_successfully",
                    f"{name}-migrate": "service_completed_successfully"}
        if name == "notifications":
            expected["mailpit"] = "service_healthy"
        for dependency, condition in expected.items():
            if depends(name).get(dependency) != condition:
                out.append(f"{name}: depends_on {dependency} must be {condition}")
        if "readyz" not in " ".join((service.get("healthcheck") or {}).get("test") or []):
            out.append(f"{name}: healthcheck must ask /readyz")
        if not service.get("read_only") or "ALL" not in (service.get("cap_drop") or []):
            out.append(f"{name}: read-only root filesystem and no capabilities")
        env = service.get("environment") or {}
        if env.get("KAFKA_PROVISION_TOPICS") != "false" or env.get("KAFKA_ENABLE_IDEMPOTENCE") != "true":
            out.append(f"{name}: KAFKA_PROVISION_TOPICS=false and KAFKA_ENABLE_IDEMPOTENCE=true")
        if not env.get("DATABASE_URL", "").endswith(f"/{name}"):
            out.append(f"{name}: DATABASE_URL must name its own database")
    for name in MIGRATIONS:
        service = name.removesuffix("-migrate")
        if (services[name].get("command") or [])[-2:] != [f"services.{service}", "migrate"]:
            out.append(f"{name}: command must run services.{service} migrate")
        if depends(name).get("postgres") != "service_healthy":
            out.append(f"{name}: must wait for postgres to be healthy")
        if services[name].get("restart") not in (None, "no"):
            out.append(f"{name}: a one-shot must not restart")
    if services["notifications"]["environment"].get("SMTP_HOST") != "mailpit":
        out.append("notifications: SMTP_HOST must default to the mail catcher")
    return out


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    result = compose_config(COMPOSE)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_config_accepts_the_file(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) >= {"kafka", "postgres", *SERVICES}


def test_compose_starts_everything_in_order_and_hardened(resolved: dict[str, Any]) -> None:
    assert compose_violations(resolved) == []


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = COMPOSE.read_text()
    assert old in text
    (tmp_path / "deploy").mkdir()
    shutil.copytree(DEPLOY / "postgres", tmp_path / "deploy" / "postgres")
    path = tmp_path / "deploy" / "compose.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_compose_config_rejects_a_dependency_on_a_missing_service(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "      orders-migrate:\n", "      orders-migrations:\n")
    result = compose_config(path)
    assert result.returncode != 0
    assert "orders-migrations" in result.stderr


def test_compose_config_rejects_an_unknown_condition(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "condition: service_completed_successfully",
                        "condition: service_finished")
    assert compose_config(path).returncode != 0


def test_compose_config_rejects_a_wrong_type(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, '      KAFKA_NODE_ID: "1"', "      KAFKA_NODE_ID: [1]")
    assert compose_config(path).returncode != 0


def test_the_start_order_check_rejects_a_broken_copy(resolved: dict[str, Any]) -> None:
    for mutate in (
        lambda c: c["services"]["orders"]["depends_on"].pop("orders-migrate"),
        lambda c: c["services"]["orders"]["depends_on"]["topics"].update(condition="service_started"),
        lambda c: c["services"]["catalog"].pop("healthcheck"),
        lambda c: c["services"]["inventory"].update(read_only=False),
        lambda c: c["services"]["notifications"]["environment"].update(KAFKA_PROVISION_TOPICS="true"),
        lambda c: c["services"].pop("topics"),
    ):
        broken = copy.deepcopy(resolved)
        mutate(broken)
        assert compose_violations(broken)


def test_the_monitoring_profile_loads_the_alert_rules_and_the_dashboard(resolved: dict[str, Any]) -> None:
    """Prometheus scrapes the four services by name and loads the rule file the promtool tests cover;
    Grafana provisions the dashboard. Both only with ``--profile monitoring``."""
    prometheus, grafana = resolved["services"]["prometheus"], resolved["services"]["grafana"]
    assert prometheus["profiles"] == ["monitoring"] and grafana["profiles"] == ["monitoring"]

    def sources(service: dict[str, Any]) -> dict[str, str]:
        """host path (relative to deploy/) -> container path; docker-compose 1.29 writes "src:dst:ro" strings"""
        out = {}
        for volume in service["volumes"]:
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) \
                else volume.split(":")[:2]
            out[Path(source).resolve().relative_to(DEPLOY).as_posix()] = target
        return out

    mounted = sources(prometheus)
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == [mounted["prometheus/backorder-alerts.yaml"]]
    assert mounted["prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert jobs == {name: [f"{name}:8080"] for name in SERVICES}
    assert "grafana/backorder-dashboard.json" in sources(grafana)
