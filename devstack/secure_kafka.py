"""A Kafka node that authenticates and authorises, as production does: SASL_SSL with SCRAM-SHA-512.

* TLS: a throwaway CA made here with ``openssl`` signs the broker's certificate (subject alternative
  name ``IP:127.0.0.1``); the broker reads both as PEM files (``ssl.keystore.type=PEM``), clients
  trust the CA through ``KAFKA_SSL_CAFILE``.
* Users: SCRAM-SHA-512 credentials written when the storage is formatted (``--add-scram``), so they
  exist before any client connects; ``admin`` is the super user (inter-broker traffic and set-up).
* Authorisation: ``StandardAuthorizer`` (KRaft's own), nothing allowed without an ACL. The
  controller's listener stays PLAINTEXT on loopback, its principal ``ANONYMOUS`` a super user: a
  dev-only shortcut (SCRAM cannot authenticate the controller quorum, whose metadata holds the
  credentials), never a client listener.
* ``admin_requests``: ACLs and passwords changed while the broker runs, through Kafka's own Admin
  client (``apache-kafka/KafkaAdmin.java``, one JVM for a whole batch).

Tests only: production clusters are Strimzi's, with the KafkaUsers rendered into ``deploy/k8s``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from devstack.broker import LOG4J, RESOURCES, KafkaCluster, KafkaNode, _java, classpath
from shared.messaging.access import Grant
from shared.settings import KafkaSettings

ADMIN = "admin"
MECHANISM: Final = "SCRAM-SHA-512"


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA and a broker certificate it signed for 127.0.0.1; return (CA certificate, broker key+chain PEM)."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=backorder-test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
            "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")
    keystore = directory / "broker.pem"
    keystore.write_text((directory / "broker.key").read_text() + (directory / "broker.crt").read_text()
                        + (directory / "ca.crt").read_text())
    for private in ("ca.key", "broker.key", "broker.pem"):
        os.chmod(directory / private, 0o600)
    return directory / "ca.crt", keystore


@dataclass
class SecureKafka:
    """One KRaft node listening SASL_SSL (SCRAM-SHA-512) with ACLs; ``users`` are name -> password."""

    root: Path
    users: dict[str, str]
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    cluster: KafkaCluster | None = None

    def __post_init__(self) -> None:
        self.cafile, keystore = make_certificates(self.root / "tls")
        cluster = KafkaCluster(self.root / "kafka", size=1)
        node: KafkaNode = cluster.nodes[0]
        port, cport = node.port, node.controller_port
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" '
                f'password="{self.admin_password}";')
        node.extra.update({
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.cafile),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        })
        node.format_args = [arg for user, password in {ADMIN: self.admin_password, **self.users}.items()
                            for arg in ("--add-scram", f"{MECHANISM}=[name={user},password={password}]")]
        self.cluster = cluster
        self.node = node

    @property
    def bootstrap(self) -> str:
        return self.node.bootstrap

    def start(self) -> SecureKafka:
        assert self.cluster is not None
        self.cluster.start()
        return self

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()

    def settings(self, user: str | None = None, password: str | None = None) -> KafkaSettings:
        """Client settings for ``user`` (the admin by default), or with ``user=""`` none at all."""
        if user == "":
            return KafkaSettings(bootstrap_servers=self.bootstrap, security_protocol="SSL",
                                 ssl_cafile=str(self.cafile))
        user = user or ADMIN
        password = password if password is not None else (
            self.admin_password if user == ADMIN else self.users[user])
        return KafkaSettings(bootstrap_servers=self.bootstrap, security_protocol="SASL_SSL", sasl_mechanism=MECHANISM,
                             sasl_username=user, sasl_password=password,  # type: ignore[arg-type]
                             ssl_cafile=str(self.cafile))

    def env(self, user: str, password: str | None = None) -> dict[str, str]:
        """A service's environment for ``user`` (its own password unless another is given)."""
        return {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": MECHANISM,
                "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": password or self.users[user],
                "KAFKA_SSL_CAFILE": str(self.cafile)}

    def admin_requests(self, lines: list[str]) -> str:
        """Run KafkaAdmin.java's requests as the super user; return what it printed."""
        config = self.root / "admin.properties"
        config.write_text(
            f"bootstrap.servers={self.bootstrap}\nsecurity.protocol=SASL_SSL\nsasl.mechanism={MECHANISM}\n"
            f"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{self.admin_password}";\n'
            f"ssl.truststore.type=PEM\nssl.truststore.location={self.cafile}\n")
        os.chmod(config, 0o600)
        requests = self.root / "admin.requests"
        requests.write_text("\n".join(lines) + "\n")
        os.chmod(requests, 0o600)
        command = [_java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", f"-Dlog4j.configuration=file:{LOG4J}",
                   "-cp", f"{classpath()}/*", str(RESOURCES / "KafkaAdmin.java"), str(config), str(requests)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        requests.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"KafkaAdmin failed ({result.returncode}): {result.stderr[-2000:]}")
        return result.stdout

    def grant(self, access: dict[str, list[Grant]], *, revoke: bool = False) -> None:
        sign = "-" if revoke else "+"
        self.admin_requests([f"acl{sign} User:{user} {g.resource} {g.pattern} {g.name} {g.operation}"
                             for user, grants in access.items() for g in grants])

    def acls(self) -> dict[str, list[Grant]]:
        """The broker's ACLs, as grants by user."""
        found: dict[str, list[Grant]] = {}
        for line in self.admin_requests(["acls"]).splitlines():
            if not line.startswith("User:"):  # the JVM's own log lines
                continue
            principal, resource, pattern, name, operation = line.split(" ")
            found.setdefault(principal.removeprefix("User:"), []).append(Grant(resource, name, operation, pattern))
        return {user: sorted(grants) for user, grants in found.items()}
