"""A local Apache Kafka cluster of one or more KRaft nodes, each a combined broker and controller.

Node *i* (1..N) listens for clients on ``KAFKA_URL``'s port + *i* − 1; its controller port is
chosen free once and kept. Every node votes in the controller quorum, so a 3-node cluster keeps
serving with any one node down. The cluster's shape (node count, security) is fixed when it is
first formatted and kept in ``DATA_DIR/broker/cluster.json``: ``start`` again starts only the
nodes that are down.

With ``security="sasl_ssl"`` the client listeners speak SASL_SSL with SCRAM-SHA-512: a CA and a
server certificate are made under ``DATA_DIR/broker/tls`` and the user is written into the
cluster's metadata at format time (``kafka-storage format --add-scram``). Nodes talk to each
other over a PLAINTEXT listener bound to the same loopback host.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from alphapanda.embedded_broker import install
from alphapanda.embedded_broker.errors import BrokerError
from alphapanda.embedded_broker.kafka_node import KafkaNode, class_archive, free_port
from alphapanda.embedded_broker.tls import TlsFiles, ensure_tls

__all__ = ["KafkaBroker", "SECURITY_MODES", "SCRAM_MECHANISM", "build_class_archive", "new_cluster_id"]

SECURITY_MODES = ("plaintext", "sasl_ssl")
SCRAM_MECHANISM = "SCRAM-SHA-512"


def new_cluster_id() -> str:
    """16 random bytes, base64url without padding, never starting with ``-`` (StorageTool's rule)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def build_class_archive(version: str = install.KAFKA_VERSION) -> Path:
    """Start and cleanly stop a throwaway node once, so that the JVM archives the classes it
    loaded (``make install`` does this after Maven)."""
    libs = install.require(version)
    archive = class_archive(libs)
    if archive.exists():
        return archive
    with tempfile.TemporaryDirectory(prefix="alphapanda-kafka-cds-") as work:
        partial = Path(work) / "classes.jsa"
        broker = KafkaBroker("127.0.0.1", free_port("127.0.0.1"), Path(work), version=version,
                             extra_jvm_flags=(f"-XX:ArchiveClassesAtExit={partial}",))
        broker.start()
        broker.stop()
        if partial.exists() and partial.stat().st_size > 0:
            shutil.move(partial, archive)
    return archive


@dataclass
class KafkaBroker:
    """The embedded Kafka at ``host:port`` with its state under ``data_dir/broker``.

    ``nodes`` and ``security`` of None mean: what the cluster was made with (1 and plaintext
    for a new one). ``sasl_username``/``sasl_password`` are the SCRAM user a ``sasl_ssl``
    cluster is made with. ``heap_mb`` is each node's JVM heap (``EMBEDDED_BROKER_HEAP_MB``).
    """

    host: str
    port: int
    data_dir: Path
    heap_mb: int = 256
    version: str = install.KAFKA_VERSION
    #: A folder of formatted, never started ``node-I`` data dirs to copy instead of running
    #: StorageTool (tests start many brokers; a copy takes milliseconds, a format a JVM start).
    #: Made on first use.
    format_template: Path | None = None
    extra_jvm_flags: tuple[str, ...] = ()
    nodes: int | None = None
    security: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    kind = "kafka"

    def __post_init__(self) -> None:
        shape = self._recorded_shape()
        if shape is not None:
            self._check_shape(shape)
            self.nodes, self.security = shape["nodes"], shape["security"]
        self.nodes = self.nodes or 1
        self.security = self.security or "plaintext"
        if self.security not in SECURITY_MODES:
            raise BrokerError(f"--security {self.security}: expected one of {', '.join(SECURITY_MODES)}")
        if self.nodes < 1 or self.port + self.nodes - 1 > 65535:
            raise BrokerError(f"--nodes {self.nodes}: expected 1 or more nodes on ports from {self.port} up")
        self.members = [
            KafkaNode(i, self.host, self.port + i - 1, self.broker_dir / f"node-{i}", heap_mb=self.heap_mb,
                      version=self.version, extra_jvm_flags=self.extra_jvm_flags)
            for i in range(1, self.nodes + 1)
        ]

    # Shape ------------------------------------------------------------------------------

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def shape_file(self) -> Path:
        return self.broker_dir / "cluster.json"

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(self.broker_dir / "tls")

    def _recorded_shape(self) -> dict | None:
        try:
            return json.loads(self.shape_file.read_text())
        except FileNotFoundError:
            pass
        # Made before cluster.json existed: one plaintext node.
        if (self.broker_dir / "node-1" / "data" / "meta.properties").exists():
            return {"nodes": 1, "security": "plaintext"}
        return None

    def _check_shape(self, shape: dict) -> None:
        asked = {"nodes": self.nodes, "security": self.security}
        differs = [f"--{k} {v}" for k, v in asked.items() if v is not None and v != shape[k]]
        if differs:
            raise BrokerError(
                f"{self.broker_dir} holds a {shape['nodes']}-node {shape['security']} cluster, not "
                f"{' '.join(differs)}: start it as it is (without those options), or stop it and remove "
                f"{self.broker_dir} (its topics go with it), or use another DATA_DIR"
            )

    # The BrokerProcess face (node 1 stands for the cluster where one is asked for) --------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.members[0].pid_file

    @property
    def log_file(self) -> Path:
        return self.members[0].log_file

    def node(self, node_id: int) -> KafkaNode:
        return self.members[node_id - 1]

    def pid(self) -> int | None:
        return self.members[0].pid()

    def is_running(self) -> bool:
        """True when every node runs."""
        return all(node.is_running() for node in self.members)

    def status_lines(self) -> list[str]:
        return [node.status_line() for node in self.members]

    # Start ------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> int:
        """Start the nodes that are down and return once every node serves; node 1's pid.

        Running nodes are left as they are. A port held by another program is an error.
        """
        down = [node for node in self.members if not node.is_running()]
        if not down:
            return self.pid()
        libs = install.require(self.version)
        ports = {node.node_id: self._node_ports(node) for node in self.members}
        for node in down:
            node.check_ports_free(list(ports[node.node_id].values()))
        if self.security == "sasl_ssl":
            self._require_credentials()
            ensure_tls(self.tls.folder, [self.host])
        for node in self.members:
            node.properties_file.write_text(self._properties(node, ports))
        unformatted = [node for node in self.members if not node.is_formatted]
        if unformatted:
            self._format(libs, unformatted)
        self.broker_dir.mkdir(parents=True, exist_ok=True)
        self.shape_file.write_text(json.dumps({"nodes": self.nodes, "security": self.security}) + "\n")
        # A quorum of controllers must be up before any node serves: launch them all, then wait.
        for node in down:
            node.launch(libs)
        deadline = time.monotonic() + timeout
        try:
            for node in down:
                node.wait_ready(deadline)
        except BrokerError:
            for node in down:
                node.stop()
            raise
        return self.pid()

    def _node_ports(self, node: KafkaNode) -> dict[str, int]:
        ports = {"controller": node.kept_port("controller")}
        if self.security != "plaintext":
            ports["internal"] = node.kept_port("internal")
        return ports

    def _require_credentials(self) -> None:
        missing = [name for name, value in (("KAFKA__SASL_USERNAME", self.sasl_username),
                                            ("KAFKA__SASL_PASSWORD", self.sasl_password)) if not value]
        if missing:
            raise BrokerError(f"--security sasl_ssl makes a SCRAM user from {' and '.join(missing)}: set them")
        if any(c in (self.sasl_username or "") + (self.sasl_password or "") for c in '"\\'):
            raise BrokerError("KAFKA__SASL_USERNAME / KAFKA__SASL_PASSWORD: the embedded broker takes no \" or \\ in them")

    # Configuration ----------------------------------------------------------------------

    def _properties(self, node: KafkaNode, ports: dict[int, dict[str, int]]) -> str:
        host = self.host
        n = self.nodes
        # Kafka's own internal topics: 3 replicas where there are 3 nodes, fewer on smaller clusters.
        replicas = min(n, 3)
        internal_isr = 2 if replicas >= 3 else 1
        voters = ",".join(f"{i}@{host}:{p['controller']}" for i, p in sorted(ports.items()))
        own = ports[node.node_id]
        if self.security == "plaintext":
            listeners = f"PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{own['controller']}"
            advertised = f"PLAINTEXT://{host}:{node.port}"
            protocol_map = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            inter_broker = "PLAINTEXT"
        else:
            listeners = (f"SASL_SSL://{host}:{node.port},INTERNAL://{host}:{own['internal']},"
                         f"CONTROLLER://{host}:{own['controller']}")
            advertised = f"SASL_SSL://{host}:{node.port},INTERNAL://{host}:{own['internal']}"
            protocol_map = "SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
            inter_broker = "INTERNAL"
        settings: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": listeners,
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": inter_broker,
            "listener.security.protocol.map": protocol_map,
            "log.dirs": node.log_dirs,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 8,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": internal_isr,
            "transaction.state.log.num.partitions": 4,
            # The app sets replicas and min.insync.replicas on its own topics (TOPIC_*).
            "default.replication.factor": replicas,
            "min.insync.replicas": 1,
            # A crashed node's replicas and leaderships move once its session ends (9 s by
            # default); and a restarted controller holds the node's new registration until then:
            # a start after a SIGKILL took 15 s.
            "broker.heartbeat.interval.ms": 500,
            "broker.session.timeout.ms": 2500,
            # Faust's first group join would otherwise wait 3 s.
            "group.initial.rebalance.delay.ms": 0,
            # The cleaner compacts the changelogs; its default 128 MiB buffer is most of a small heap.
            "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "background.threads": 4,
            "num.recovery.threads.per.data.dir": 2,
            "num.replica.fetchers": 1,
        }
        if install.major(self.version) >= 4:
            settings["share.coordinator.state.topic.replication.factor"] = replicas
            settings["share.coordinator.state.topic.min.isr"] = internal_isr
        if self.security == "sasl_ssl":
            settings.update({
                "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": self.tls.server,
                "ssl.client.auth": "none",
            })
        lines = ["# Rendered by alphapanda broker start on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"

    # Format -----------------------------------------------------------------------------

    def _format(self, libs: Path, nodes: list[KafkaNode]) -> None:
        template = self.format_template
        if template is not None and all((template / f"node-{n.node_id}" / "meta.properties").exists() for n in nodes):
            for node in nodes:
                node.copy_format(template / f"node-{node.node_id}")
            return
        cluster_id = self._cluster_id() or new_cluster_id()
        extra = []
        if self.security == "sasl_ssl":
            extra = ["--add-scram", f'{SCRAM_MECHANISM}=[name="{self.sasl_username}",password="{self.sasl_password}"]']
        # StorageTool JVMs in parallel: one per node.
        processes = [(node, subprocess.Popen(node.format_command(libs, cluster_id, extra), stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)) for node in nodes]
        for node, process in processes:
            output, _ = process.communicate()
            if process.returncode != 0:
                text = output.strip()[-2000:]
                if self.sasl_password:
                    text = text.replace(self.sasl_password, "**********")
                raise BrokerError(f"formatting {node.log_dirs} failed: {text}")
        if template is not None and not template.exists() and len(nodes) == len(self.members):
            for node in nodes:
                shutil.copytree(node.log_dirs, template / f"node-{node.node_id}")

    def _cluster_id(self) -> str | None:
        """The id the formatted nodes share (a node formatted later must join the same cluster)."""
        for node in self.members:
            try:
                for line in (node.log_dirs / "meta.properties").read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.split("=", 1)[1].strip()
            except FileNotFoundError:
                continue
        return None

    # Stop -------------------------------------------------------------------------------

    def stop(self, timeout: float | None = None) -> bool:
        """A clean shutdown of every node at once (each does a controlled shutdown while the
        others' controllers still run); True when any ran."""
        return self._signal_all(signal.SIGTERM, KafkaNode.stop_timeout if timeout is None else timeout)

    def kill(self) -> bool:
        """SIGKILL every node, as a crash would."""
        return self._signal_all(signal.SIGKILL, 10.0)

    def _signal_all(self, sig: int, timeout: float) -> bool:
        sent = [(node, pid) for node in self.members if (pid := node.send_signal(sig)) is not None]
        deadline = time.monotonic() + timeout
        for node, pid in sent:
            node.await_stopped(pid, deadline)
        return bool(sent)
