"""docker-compose.yml validates against the Compose specification schema and wires the stack
in the right order, with secrets only from the environment."""

from __future__ import annotations

import re

import jsonschema
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from shared.infra.apache_kafka import KAFKA_IMAGE
from tests.deploy.manifests import COMPOSE_FILE, TOPICS_FILE, compose

PROMETHEUS_FILE = COMPOSE_FILE.parent / "deploy" / "monitoring" / "prometheus.yml"

HYPELEDGER_SERVICES = {"ingress", "ledger", "relay", "reconciler", "operator-api", "simulator"}
ONE_SHOTS = {"migrate", "kafka-topics"}
SECRET_NAME = re.compile(r"(PASSWORD|TOKEN|KEYS?)$")
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Z_]+:\?[^}]*\}")


def test_compose_file_validates_against_the_compose_specification_schema() -> None:
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.validators.validator_for(schema)(schema)

    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]

    assert errors == []


def test_kafka_runs_in_kraft_mode_with_a_listener_for_the_compose_network() -> None:
    kafka = compose()["services"]["kafka"]

    environment = kafka["environment"]

    assert kafka["image"] == KAFKA_IMAGE  # the same release as the local broker and containers
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert {
        service["environment"]["HYPELEDGER_KAFKA_BOOTSTRAP_SERVERS"]
        for name, service in compose()["services"].items()
        if name in (HYPELEDGER_SERVICES | ONE_SHOTS) - {"simulator"}
    } == {"kafka:9092"}


def test_every_secret_comes_from_a_required_environment_variable() -> None:
    secrets = {
        f"{name}.{key}": str(value)
        for name, service in compose()["services"].items()
        for key, value in service.get("environment", {}).items()
        if SECRET_NAME.search(key) or key == "HYPELEDGER_DATABASE_URL"
    }

    unguarded = {key: text for key, text in secrets.items() if not REQUIRED_VARIABLE.search(text)}

    assert len(secrets) >= 6
    assert unguarded == {}


def test_every_long_running_service_has_a_healthcheck_on_its_own_port() -> None:
    services = compose()["services"]

    for name in HYPELEDGER_SERVICES:
        service = services[name]
        assert "test" not in service["healthcheck"], "the image's HEALTHCHECK is the test"
        assert service["healthcheck"].get("disable") is not True
        assert service["environment"]["HEALTHCHECK_PORT"] in {
            int(port.rsplit(":", 1)[1]) for port in service["ports"]
        }, name
    for name in ("postgres", "kafka"):
        assert services[name]["healthcheck"]["test"], name


def test_services_start_only_after_healthy_infrastructure_migrations_and_topics() -> None:
    services = compose()["services"]

    for name in HYPELEDGER_SERVICES - {"simulator"}:
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == {
            "postgres": "service_healthy",
            "kafka": "service_healthy",
            "migrate": "service_completed_successfully",
            "kafka-topics": "service_completed_successfully",
        }, name
    for name in ONE_SHOTS:
        assert services[name]["restart"] == "no", name


def test_migration_job_runs_the_migrate_command() -> None:
    migrate = compose()["services"]["migrate"]

    assert migrate["command"] == ["migrate"]


def test_topic_init_mounts_the_same_declarations_as_kubernetes() -> None:
    topics = compose()["services"]["kafka-topics"]

    source = topics["volumes"][0].split(":")[0]

    assert (COMPOSE_FILE.parent / source / TOPICS_FILE.name).resolve() == TOPICS_FILE.resolve()
    assert topics["entrypoint"][-1].endswith(TOPICS_FILE.name)


def test_simulator_and_monitoring_run_only_under_their_profiles() -> None:
    services = compose()["services"]

    profiles = {
        name: service["profiles"] for name, service in services.items() if "profiles" in service
    }

    assert profiles == {
        "simulator": ["simulator"],
        "prometheus": ["monitoring"],
        "grafana": ["monitoring"],
    }


def test_prometheus_scrapes_every_hypeledger_service_on_its_port_and_loads_the_alerts() -> None:
    services = compose()["services"]
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())

    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    mounts = dict(volume.split(":")[:2] for volume in services["prometheus"]["volumes"])

    assert targets == {
        f"{name}:{services[name]['environment']['HEALTHCHECK_PORT']}"
        for name in HYPELEDGER_SERVICES
    }
    assert mounts["./deploy/monitoring/alerts.yaml"] in config["rule_files"]
    assert all((COMPOSE_FILE.parent / source).exists() for source in mounts)


def test_the_simulator_signs_the_url_the_ingress_verifies_and_shares_its_secrets() -> None:
    services = compose()["services"]
    ingress, simulator = services["ingress"]["environment"], services["simulator"]["environment"]

    assert (
        simulator["HYPELEDGER_SIMULATOR_WEBHOOK_BASE_URL"] == ingress["HYPELEDGER_PUBLIC_BASE_URL"]
    )
    assert (
        simulator["HYPELEDGER_SIMULATOR_WEBHOOK_API_KEY"] == ingress["HYPELEDGER_HYPETECH_API_KEYS"]
    )
    assert (
        simulator["HYPELEDGER_SIMULATOR_API_TOKEN"]
        == services["reconciler"]["environment"]["HYPELEDGER_HYPETECH_API_TOKEN"]
    )


def test_every_file_the_compose_file_mounts_exists_in_the_repository() -> None:
    sources = [
        volume.split(":")[0]
        for service in compose()["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]

    missing = [source for source in sources if not (COMPOSE_FILE.parent / source).exists()]

    assert len(sources) >= 6
    assert missing == []
