"""Kafka's own console tools, run from the embedded installation's jars.

``alphapanda broker tool kafka-topics --list`` is ``bin/kafka-topics.sh --list`` of the same
release: the same main class, the same arguments, ``--bootstrap-server`` filled in from
``KAFKA_URL`` when not given. Tools log WARN and above to stderr, so stdout carries only what the
tool prints (a consumed topic can be piped on). With ``KAFKA__SECURITY_PROTOCOL`` set, the
tool gets a client config file with the same TLS and SASL settings as the app's own clients
(:func:`client_properties`), unless the arguments name one of their own.
"""

from __future__ import annotations

from pathlib import Path

from alphapanda.embedded_broker import install
from alphapanda.embedded_broker.errors import BrokerError
from alphapanda.embedded_broker.logging_config import log_config_flag

__all__ = ["TOOLS", "client_properties", "tool_command"]

#: Script name -> main class by Kafka major version (KAFKA.md).
TOOLS: dict[str, dict[int, str]] = {
    "kafka-console-producer": {3: "kafka.tools.ConsoleProducer", 4: "org.apache.kafka.tools.ConsoleProducer"},
    "kafka-console-consumer": {3: "org.apache.kafka.tools.consumer.ConsoleConsumer", 4: "org.apache.kafka.tools.consumer.ConsoleConsumer"},
    "kafka-topics": {3: "org.apache.kafka.tools.TopicCommand", 4: "org.apache.kafka.tools.TopicCommand"},
    "kafka-consumer-groups": {
        3: "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        4: "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    },
}

#: The option that names a client config file, by tool and Kafka major (4.x renamed the console
#: tools' ones; the old names print a deprecation line on stdout).
CONFIG_OPTION: dict[str, dict[int, str]] = {
    "kafka-console-producer": {3: "--producer.config", 4: "--command-config"},
    "kafka-console-consumer": {3: "--consumer.config", 4: "--command-config"},
    "kafka-topics": {3: "--command-config", 4: "--command-config"},
    "kafka-consumer-groups": {3: "--command-config", 4: "--command-config"},
}
_CONFIG_OPTIONS = {"--producer.config", "--consumer.config", "--command-config"}

TOOL_HEAP_MB = 256

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def client_properties(connection) -> str | None:
    """A Java client config for a :class:`~alphapanda.kafka_connection.KafkaConnection`'s TLS and
    SASL settings (None for PLAINTEXT). It holds the password: write it only to a 0600 file."""
    if connection.security_protocol == "PLAINTEXT":
        return None
    lines = [f"security.protocol={connection.security_protocol}"]
    if connection.uses_sasl:
        module = _LOGIN_MODULES[connection.sasl_mechanism]
        user = connection.sasl_username.replace("\\", "\\\\").replace('"', '\\"')
        password = connection.sasl_password.replace("\\", "\\\\").replace('"', '\\"')
        lines += [f"sasl.mechanism={connection.sasl_mechanism}",
                  f'sasl.jaas.config={module} required username="{user}" password="{password}";']
    if connection.uses_tls and connection.ssl_cafile:
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={connection.ssl_cafile}"]
    return "\n".join(lines) + "\n"


def tool_command(tool: str, args: list[str], bootstrap: str, config_dir: Path,
                 version: str = install.KAFKA_VERSION, client_config: Path | None = None) -> list[str]:
    """The command line that runs ``tool`` with ``args`` against ``bootstrap`` (with
    ``client_config`` as its client config file unless ``args`` name one)."""
    name = tool.removesuffix(".sh")
    if name not in TOOLS:
        raise BrokerError(f"unknown tool {tool!r}: expected one of {', '.join(TOOLS)}")
    libs = install.require(version)
    major = install.major(version)
    if not any(a == "--bootstrap-server" or a.startswith("--bootstrap-server=") for a in args):
        args = ["--bootstrap-server", bootstrap, *args]
    if client_config is not None and not any(a.split("=", 1)[0] in _CONFIG_OPTIONS for a in args):
        args = [CONFIG_OPTION[name][major], str(client_config), *args]
    return [
        install.java(), f"-Xmx{TOOL_HEAP_MB}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
        log_config_flag(config_dir, major, tool=True), "-cp", f"{libs}/*", TOOLS[name][major], *args,
    ]
