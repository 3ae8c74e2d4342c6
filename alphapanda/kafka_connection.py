"""How every Kafka client of the app connects: the bootstrap servers plus TLS and SASL.

The worker (through Faust's ``broker_credentials``), ``topics create``, ``replay``,
``dlq-replay``, the bench and the group-less tail readers all build their aiokafka clients from
one :class:`KafkaConnection`, so a managed cluster needs its ``KAFKA__*`` settings once.
The password is kept out of ``repr`` and of every message.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = ["KafkaConnection", "KafkaSetupError", "as_connection"]


class KafkaSetupError(RuntimeError):
    """Kafka settings that cannot work; the message names the setting and never holds a secret."""


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @classmethod
    def from_settings(cls, settings) -> KafkaConnection:
        kafka = settings.kafka
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=kafka.security_protocol,
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_username=kafka.sasl_username,
            sasl_password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            ssl_cafile=kafka.ssl_cafile,
            ssl_certfile=kafka.ssl_certfile,
            ssl_keyfile=kafka.ssl_keyfile,
        )

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def hosts(self) -> list[tuple[str, int]]:
        pairs = []
        for server in self.bootstrap.split(","):
            host, port = server.strip().rsplit(":", 1)
            pairs.append((host, int(port)))
        return pairs

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (the system's trusted CAs unless ``KAFKA__SSL_CAFILE``); one per connection.

        Raises :class:`KafkaSetupError` naming the setting whose file is missing or not PEM.
        """
        if not self.uses_tls:
            return None
        from aiokafka.helpers import create_ssl_context

        files = {"KAFKA__SSL_CAFILE": self.ssl_cafile, "KAFKA__SSL_CERTFILE": self.ssl_certfile,
                 "KAFKA__SSL_KEYFILE": self.ssl_keyfile}
        for name, path in files.items():
            if path is not None and not Path(path).is_file():
                raise KafkaSetupError(f"{name}: {str(path)!r} is not a readable file")
        try:
            context = create_ssl_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        except ssl.SSLError as exc:
            raise KafkaSetupError(f"KAFKA__SSL_CAFILE: {self.ssl_cafile} holds no PEM certificate ({exc.reason})") from None
        if self.ssl_certfile:
            try:
                context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None)
            except ssl.SSLError as exc:
                raise KafkaSetupError(
                    f"KAFKA__SSL_CERTFILE / KAFKA__SSL_KEYFILE: not a PEM certificate and its key ({exc.reason})"
                ) from None
        return context

    def security_options(self) -> dict[str, Any]:
        """aiokafka keyword arguments for TLS and SASL (nothing for PLAINTEXT)."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options

    def options(self) -> dict[str, Any]:
        """aiokafka keyword arguments: ``bootstrap_servers`` and the security options."""
        return {"bootstrap_servers": self.bootstrap, **self.security_options()}

    def librdkafka_config(self) -> dict[str, str]:
        """The same connection in librdkafka's words (confluent-kafka clients)."""
        config = {"bootstrap.servers": self.bootstrap, "security.protocol": self.security_protocol.lower()}
        if self.uses_sasl:
            config.update({"sasl.mechanisms": self.sasl_mechanism or "PLAIN",
                           "sasl.username": self.sasl_username or "", "sasl.password": self.sasl_password or ""})
        if self.uses_tls:
            for key, path in (("ssl.ca.location", self.ssl_cafile), ("ssl.certificate.location", self.ssl_certfile),
                              ("ssl.key.location", self.ssl_keyfile)):
                if path:
                    config[key] = str(path)
        return config

    def faust_credentials(self):
        """Faust's ``broker_credentials`` for these settings (None for PLAINTEXT)."""
        import faust

        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username, password=self.sasl_password,
                ssl_context=self.ssl_context, mechanism=self.sasl_mechanism,
            )
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context)
        return None


def as_connection(value: str | KafkaConnection) -> KafkaConnection:
    """A plain ``host:port`` list (tests, tools) is a PLAINTEXT connection."""
    return value if isinstance(value, KafkaConnection) else KafkaConnection(bootstrap=value)
