"""docker-compose.yml cannot run here (no Docker engine), so its settings are checked by reading it."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from entitlement_service.settings import EntitlementSettings
from paygrant import metrics
from paygrant.codegen import ROOT
from paygrant.qpay_sim.settings import SimulatorSettings
from paygrant_cli.settings import CliSettings
from payment_service.settings import PaymentSettings

COMPOSE = (ROOT / "docker-compose.yml").read_text()
KNOWN = {
    f"PAYGRANT_{name.upper()}"
    for settings in (PaymentSettings, EntitlementSettings, SimulatorSettings, CliSettings)
    for name in settings.model_fields
}


def test_every_variable_in_compose_is_read_by_some_settings() -> None:
    used = set(re.findall(r"\b(PAYGRANT_[A-Z_]+):", COMPOSE))
    assert used, "docker-compose.yml sets no PAYGRANT_ variables"
    assert used - KNOWN == set()


def test_compose_ports_match_the_ports_the_services_listen_on() -> None:
    assert f'PAYGRANT_PAYMENT_GRPC_PORT: "{PaymentSettings().payment_grpc_port}"' in COMPOSE
    assert f'PAYGRANT_ENTITLEMENT_GRPC_PORT: "{EntitlementSettings().entitlement_grpc_port}"' in COMPOSE
    assert f'PAYGRANT_CALLBACK_PORT: "{PaymentSettings().callback_port}"' in COMPOSE
    assert f'PAYGRANT_QPAY_SIM_PORT: "{SimulatorSettings().qpay_sim_port}"' in COMPOSE


def test_compose_targets_point_at_compose_services() -> None:
    services = set(re.findall(r"^  ([a-z-]+):$", COMPOSE, re.MULTILINE))
    assert {"payment", "entitlement", "relay", "qpay-sim", "payment-db", "entitlement-db", "redis"} <= services
    hosts = re.findall(r"(?:@|redis://|http://|TARGET: )([a-z-]+):", COMPOSE)
    assert len(hosts) >= 5, "expected database, Redis, QPay, callback and entitlement addresses"
    for host in hosts:
        assert host in services, f"{host} is not a compose service"


def test_readme_documents_every_variable_the_settings_read() -> None:
    readme = (ROOT / "README.md").read_text()
    assert sorted(name for name in KNOWN if f"`{name}`" not in readme) == []


def test_compose_configures_credentials_wherever_a_service_listens_beyond_loopback() -> None:
    assert "PAYGRANT_ENTITLEMENT_CREDENTIALS: ${" in COMPOSE
    assert "PAYGRANT_PAYMENT_CREDENTIALS: ${" in COMPOSE
    assert "PAYGRANT_ENTITLEMENT_TOKEN: ${" in COMPOSE
    assert '"127.0.0.1:8090:8090"' in COMPOSE, "the simulator's control endpoints stay on the host"


def test_a_redis_key_prefix_with_whitespace_is_refused_at_start() -> None:
    # The prefix also names the invalidation subscriber's Redis connection, and Redis refuses names with spaces.
    with pytest.raises(ValidationError, match="redis_key_prefix"):
        EntitlementSettings(redis_key_prefix="pay grant")
    assert EntitlementSettings(redis_key_prefix="paygrant-eu").redis_key_prefix == "paygrant-eu"


def test_prometheus_scrapes_the_metrics_ports_compose_gives_the_services() -> None:
    payment_port = re.search(r'PAYGRANT_PAYMENT_METRICS_PORT: "(\d+)"', COMPOSE)
    entitlement_port = re.search(r'PAYGRANT_ENTITLEMENT_METRICS_PORT: "(\d+)"', COMPOSE)
    assert payment_port and entitlement_port
    assert f'"payment:{payment_port[1]}"' in COMPOSE
    assert f'names: ["relay"], type: A, port: {payment_port[1]}' in COMPOSE
    assert f'"entitlement:{entitlement_port[1]}"' in COMPOSE


def test_the_grafana_dashboard_asks_only_for_metrics_the_services_export() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/paygrant.json").read_text())
    queried = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bpaygrant_[a-z_]+", target["expr"])
    }
    exported = {
        name
        for metric in (
            metrics.RPC_SECONDS,
            metrics.OWNERSHIP_ANSWERS,
            metrics.OUTBOX_ROWS,
            metrics.OUTBOX_OLDEST_PENDING_SECONDS,
            metrics.RELAY_DELIVERY_SECONDS,
            metrics.SESSION_CACHE_FALLBACKS,
            metrics.QPAY_SECONDS,
        )
        for family in metric.describe()
        for name in (family.name, f"{family.name}_total")
    }
    assert queried, "the dashboard queries nothing"
    assert queried - exported == set()
    assert len(queried) == 7, "every metric has a panel"
