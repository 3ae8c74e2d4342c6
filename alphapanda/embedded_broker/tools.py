"""Kafka's own console tools, run from the embedded installation's jars.

``alphapanda broker tool kafka-topics --list`` is ``bin/kafka-topics.sh --list`` of the same
release: the same main class, the same arguments, ``--bootstrap-server`` filled in from
``KAFKA_URL`` when not given. Tools log WARN and above to stderr, so stdout carries only what the
tool prints (a consumed topic can be piped on).
"""

from __future__ import annotations

from pathlib import Path

from alphapanda.embedded_broker import install
from alphapanda.embedded_broker.errors import BrokerError
from alphapanda.embedded_broker.logging_config import log_config_flag

__all__ = ["TOOLS", "tool_command"]

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

TOOL_HEAP_MB = 256


def tool_command(tool: str, args: list[str], bootstrap: str, config_dir: Path,
                 version: str = install.KAFKA_VERSION) -> list[str]:
    """The command line that runs ``tool`` with ``args`` against ``bootstrap``."""
    name = tool.removesuffix(".sh")
    if name not in TOOLS:
        raise BrokerError(f"unknown tool {tool!r}: expected one of {', '.join(TOOLS)}")
    libs = install.require(version)
    major = install.major(version)
    if not any(a == "--bootstrap-server" or a.startswith("--bootstrap-server=") for a in args):
        args = ["--bootstrap-server", bootstrap, *args]
    return [
        install.java(), f"-Xmx{TOOL_HEAP_MB}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
        log_config_flag(config_dir, major, tool=True), "-cp", f"{libs}/*", TOOLS[name][major], *args,
    ]
