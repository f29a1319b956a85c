"""Transport security is configuration, secrets never come from the repository, and logs never carry
secrets or buyers' addresses.

* Kafka SASL (SCRAM) and TLS: the dev stack's broker listens in plain text, so these are checked where
  they are decided: the settings, read from the environment and from files under ``SECRETS_DIR``
  exactly as Kubernetes mounts them, produce the FastStream security object and the aiokafka
  arguments every client of the platform uses.
* PostgreSQL TLS is the ``sslmode`` of ``DATABASE_URL``: against the embedded server (no TLS) a client
  asking for ``sslmode=require`` is refused the upgrade and gives up, so it never falls back to plain
  text; the service pool and the devstack keep the parameter.
* SMTP STARTTLS and AUTH: the embedded SMTP server can offer STARTTLS (self-signed) and require
  authentication, like a relay; the notifications transport upgrades, verifies the certificate
  against ``SMTP_CAFILE`` and authenticates, refuses to send a password in plain text, and the
  server refuses mail sent without TLS.
* The shared platform of the fault package (``conftest.py``) runs with a password in ``DATABASE_URL``
  (the embedded server's trust authentication ignores it), a SASL password in the environment, the
  SMTP password in a file under ``SECRETS_DIR`` (emails really go through STARTTLS and AUTH) and debug
  logging. After the authorization, hostile-input and poison tests and one more happy path on it,
  every service log is searched for each secret and every buyer address: none may appear.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest
from faststream.kafka.security import parse_security
from pydantic import SecretStr

from devstack.client import PlatformClient
from devstack.scenario import Scenario
from devstack.smtp import EmbeddedSmtp, read_mail, self_signed_certificate
from devstack.stack import SERVICES, Stack, with_database, without_password
from services.notifications.mail import DeliveryError, SmtpTransport, SmtpUnavailable
from services.notifications.message import Wire
from services.notifications.settings import NotificationsSettings
from shared.contract.orders import CancelLines, OrderLine, PlaceOrder
from shared.contract.topics import all_topic_names
from shared.messaging.broker import aiokafka_security, build_broker, build_security
from shared.persistence.db import create_pool
from shared.settings import KafkaSettings

pytestmark = [pytest.mark.faults]

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------- Kafka


def settings_in_a_process(env: dict[str, str], secrets: dict[str, str], tmp_path: Path) -> dict[str, object]:
    """What a service process reads: its settings, built at import time from its environment and SECRETS_DIR."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    for name, value in secrets.items():
        (secrets_dir / name).write_text(value)
    script = """
import json
from services.notifications.settings import NotificationsSettings
from shared.messaging.broker import aiokafka_security
s = NotificationsSettings()
k = aiokafka_security(s.kafka)
print(json.dumps({
    "database_url": s.database_url.get_secret_value(), "smtp_password": s.smtp_password.get_secret_value()
        if s.smtp_password else None,
    "sasl_password": s.kafka.sasl_password.get_secret_value() if s.kafka.sasl_password else None,
    "protocol": k["security_protocol"], "mechanism": k.get("sasl_mechanism"),
    "username": k.get("sasl_plain_username"), "tls": "ssl_context" in k, "repr": repr(s),
}))
"""
    done = subprocess.run([sys.executable, "-c", script], env={"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(secrets_dir),
                                                               **env}, capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_kafka_sasl_scram_over_tls_is_configuration_with_the_password_from_secrets_dir(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path / "ca")
    seen = settings_in_a_process(
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
         "KAFKA_SASL_USERNAME": "orders", "KAFKA_SSL_CAFILE": str(cert)},
        {"kafka_sasl_password": "kafka-pw-from-a-file", "database_url": "postgresql://orders:db-pw@db/orders"},
        tmp_path)
    assert (seen["protocol"], seen["mechanism"], seen["username"], seen["tls"]) == \
        ("SASL_SSL", "SCRAM-SHA-512", "orders", True)
    # the file names are the ones deploy/k8s mounts under /run/secrets/backorder
    assert seen["sasl_password"] == "kafka-pw-from-a-file"
    assert seen["database_url"] == "postgresql://orders:db-pw@db/orders"
    assert "kafka-pw-from-a-file" not in str(seen["repr"]) and "db-pw" not in str(seen["repr"])


def test_kafka_settings_give_every_client_the_same_security(tmp_path: Path) -> None:
    cafile = str(self_signed_certificate(tmp_path / "ca")[0])
    scram = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="svc",
                          sasl_password=SecretStr("pw"), ssl_cafile=cafile)
    security = build_security(scram)
    assert type(security).__name__ == "SASLScram256" and security.use_ssl
    assert security.ssl_context.verify_mode == ssl.CERT_REQUIRED and security.ssl_context.check_hostname
    raw = aiokafka_security(scram)
    assert (raw["security_protocol"], raw["sasl_mechanism"], raw["sasl_plain_username"],
            raw["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-256", "svc", "pw")
    assert raw["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    tls_only = build_security(KafkaSettings(security_protocol="SSL", ssl_cafile=cafile))
    assert tls_only.use_ssl and type(tls_only).__name__ == "BaseSecurity"
    assert "ssl_context" not in aiokafka_security(KafkaSettings(security_protocol="SASL_PLAINTEXT",
                                                                sasl_username="u", sasl_password=SecretStr("p")))
    assert build_security(KafkaSettings()) is None
    # the services' FastStream broker and the raw aiokafka clients (topic admin, broker watch, CLI) agree
    for settings in (scram, KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                                          sasl_username="u", sasl_password=SecretStr("p"))):
        faststream = {k: v for k, v in parse_security(build_security(settings)).items() if k != "ssl_context"}
        assert faststream == {k: v for k, v in aiokafka_security(settings).items() if k != "ssl_context"}
        build_broker(settings, client_id="orders")  # builds without connecting


# ---------------------------------------------------------------------- PostgreSQL


async def test_postgres_tls_is_the_sslmode_of_database_url(postgres_server: str) -> None:
    plain = with_database(postgres_server, "postgres")
    insisting = f"{plain}?sslmode=require"
    # the embedded server has no TLS: a client that requires it is refused the upgrade and stops there
    with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
        await asyncpg.connect(insisting, timeout=5)
    with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
        await create_pool(insisting, min_size=1, max_size=1)
    conn = await asyncpg.connect(f"{plain}?sslmode=disable")
    await conn.close()
    # the devstack derives each service's database URL from the server's: the sslmode stays
    assert with_database(f"{postgres_server}?sslmode=verify-full", "orders").endswith("/orders?sslmode=verify-full")


# ---------------------------------------------------------------------- SMTP


def smtp_settings(server: EmbeddedSmtp, **overrides: object) -> NotificationsSettings:
    values: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_timeout_s": 5.0,
                                 "smtp_cafile": str(server.cafile) if server.cafile else None, **overrides}
    return NotificationsSettings(**values)  # type: ignore[arg-type]


def mail() -> Wire:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@shop.example", "buyer@example.com", "test"
    message.set_content("on back order")
    return Wire("shop@shop.example", "buyer@example.com", message.as_bytes())


async def test_smtp_starttls_and_auth_are_configuration(tmp_path: Path) -> None:
    relay = EmbeddedSmtp(tmp_path / "mail", tmp_path / "smtp.log", tls_dir=tmp_path / "tls", username="relay",
                         password="smtp-pw").start()
    plain = EmbeddedSmtp(tmp_path / "mail-plain", tmp_path / "smtp-plain.log").start()
    try:
        session = await SmtpTransport(smtp_settings(relay, smtp_username="relay",
                                                    smtp_password=SecretStr("smtp-pw"))).connect()
        await session.send(mail())
        await session.close()
        assert len(read_mail(tmp_path / "mail")) == 1
        with pytest.raises(SmtpUnavailable, match="535"):  # a wrong password
            await SmtpTransport(smtp_settings(relay, smtp_username="relay",
                                              smtp_password=SecretStr("wrong"))).connect()
        with pytest.raises(SmtpUnavailable):  # a certificate nobody vouched for
            await SmtpTransport(smtp_settings(relay, smtp_cafile=None, smtp_username="relay",
                                              smtp_password=SecretStr("smtp-pw"))).connect()
        session = await SmtpTransport(smtp_settings(relay, smtp_starttls="off")).connect()
        with pytest.raises(DeliveryError, match="STARTTLS"):  # the relay takes no mail in plain text
            await session.send(mail())
        await session.close()
        # with credentials the client upgrades or gives up: no password over a server that offers no TLS
        with pytest.raises(SmtpUnavailable):
            await SmtpTransport(smtp_settings(plain, smtp_username="relay",
                                              smtp_password=SecretStr("smtp-pw"))).connect()
        assert read_mail(tmp_path / "mail-plain") == []
    finally:
        relay.stop()
        plain.stop()


# ---------------------------------------------------------------------- the repository


def test_secrets_never_come_from_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert not [f for f in tracked if Path(f).name in (".env", "secrets.yaml") or f.endswith((".pem", ".key"))]
    private_keys, dsn_passwords = [], []
    for name in tracked:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        if "PRIVATE KEY-----" in text and not name.startswith("tests/"):
            private_keys.append(name)
        for line in text.splitlines():
            # a DSN with a literal password is fine in tests (throw-away values) and as a ${VAR:-dev} default
            if "postgresql://" in line and ":" in line.split("postgresql://", 1)[1].split("@", 1)[0] \
                    and "@" in line.split("postgresql://", 1)[1] and not name.startswith(("tests/", "docs/")) \
                    and "${" not in line.split("postgresql://", 1)[1].split("@", 1)[0]:
                dsn_passwords.append(f"{name}: {line.strip()[:80]}")
    assert private_keys == [] and dsn_passwords == [], (private_keys, dsn_passwords)


# ---------------------------------------------------------------------- logs of a full run


async def test_logs_of_the_whole_run_carry_no_secret_and_no_buyer_address(platform: Stack,
                                                                           secrets: dict[str, str]) -> None:
    """The shared platform ran the authorization, hostile-input and poison tests with secrets (see
    ``conftest.py``); one more happy path and two error paths, then every service log is searched."""
    stack = platform
    assert secrets["database"] in stack.service_env("orders", 0)["DATABASE_URL"]
    client = await PlatformClient(stack.kafka_bootstrap, all_topic_names()).start()
    try:
        result = await Scenario(client, stack.mail_dir, timeout=60).run()
        assert result.ok, result.failure
        # a second buyer whose order is refused and whose cancellation fails: error paths log too
        other = f"buyer-{uuid.uuid4().hex[:6]}"
        await client.send(PlaceOrder(order_id=f"o-{other}", buyer_id=other, buyer_email=f"{other}@example.org",
                                     region="US", lines=[OrderLine(line_id="l1", sku_id="sku-none", qty=1)]))
        await client.wait_type("orders.events", "OrderRejected", order_id=f"o-{other}")
        cancel = await client.send(CancelLines(order_id=f"o-{other}", line_ids=["l1"]))
        assert (await client.wait_caused_by(cancel)).type == "CommandRejected"
    finally:
        await client.stop()
    assert result.email is not None  # delivered through STARTTLS and AUTH, with the password from SECRETS_DIR

    # every buyer address of the package's tests is on one of these domains; Message-IDs are @shop.example
    addresses = [f"{result.ids['buyer']}@example.com", f"{other}@example.org", "@example.com", "@example.org"]
    logs = sorted((stack.root / "logs").glob("*.log"))
    assert {p.stem.rsplit("-", 1)[0] for p in logs} == set(SERVICES)
    leaks = []
    for log in logs:
        text = log.read_text(errors="replace")
        assert text.count("\n") >= 3, f"{log.name} logged nothing"
        for name, secret in secrets.items():
            if secret in text:
                leaks.append(f"{log.name}: {name} password")
        for address in addresses:
            if address.lower() in text.lower():
                leaks.append(f"{log.name}: a buyer address")
    state = (stack.root / "stack.json").read_text()
    assert secrets["database"] not in state and without_password(stack.database_url) in state
    assert leaks == [], leaks
    lines = sum(p.read_text(errors="replace").count("\n") for p in logs)
    print(f"\ntransport: {len(logs)} service logs of the shared platform ({lines} lines at DEBUG), searched for "
          f"3 secrets and every buyer address: none found")


def test_secret_values_do_not_leak_through_settings_repr() -> None:
    settings = NotificationsSettings(smtp_password=SecretStr("very-secret"),
                                     database_url=SecretStr("postgresql://u:very-secret@h/d"))
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings.model_dump())
