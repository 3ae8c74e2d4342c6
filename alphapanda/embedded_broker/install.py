"""Apache Kafka for the embedded broker, resolved from Maven Central into a git-ignored folder.

``make install`` runs ``python -m alphapanda.embedded_broker.install``: Maven lays the jars of
the pinned release (and of the other major version, for the compatibility test) flat under
``.kafka/VERSION/libs`` beside the package, then one throwaway start and stop of a node leaves
the JVM's archive of the broker's classes beside them (a second off every start). Nothing is
downloaded at run time: a broker start finds the jars there or says how to get them.

Why 4.x is pinned: it is the line new clusters run (KRaft only, ZooKeeper gone), and since
KIP-896 its brokers refuse the oldest protocol versions, so the suite proves our clients against
the stricter broker; 3.9.x accepts every old version and is tested by one end-to-end test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alphapanda.embedded_broker.errors import MissingTool

__all__ = [
    "KAFKA_VERSION", "OTHER_MAJOR_VERSION", "install", "install_root", "is_installed", "java",
    "libs_dir", "major",
]

#: The release everything runs on (``make test``, ``run``, ``bench``).
KAFKA_VERSION = "4.4.0"
#: The other major version, which one end-to-end test runs the pipeline against.
OTHER_MAJOR_VERSION = "3.9.1"

DEPENDENCY_PLUGIN = "3.8.1"
SCALA = "2.13"
#: The logging backends are in no Kafka POM (KAFKA.md): reload4j on 3.x, log4j2 on 4.x.
LOGGING = {
    3: [("org.slf4j", "slf4j-reload4j", "1.7.36"), ("ch.qos.reload4j", "reload4j", "1.2.25")],
    4: [("org.apache.logging.log4j", name, "2.24.3") for name in ("log4j-slf4j-impl", "log4j-core", "log4j-api")],
}
JAVA_HINT = "install a JDK 17 (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless), or set EMBEDDED_BROKER=tansu"
MAVEN_HINT = "install Apache Maven (Debian/Ubuntu: apt-get install maven), or set EMBEDDED_BROKER=tansu"


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


def install_root() -> Path:
    """``ALPHAPANDA_KAFKA_HOME``, else ``.kafka`` in the source tree (git-ignored)."""
    override = os.environ.get("ALPHAPANDA_KAFKA_HOME")
    return Path(override) if override else Path(__file__).resolve().parents[2] / ".kafka"


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    return install_root() / version / "libs"


def _complete_mark(version: str) -> Path:
    return install_root() / version / ".complete"


def is_installed(version: str = KAFKA_VERSION) -> bool:
    return _complete_mark(version).exists()


def java() -> str:
    """The java binary (``JAVA_HOME`` first), or :class:`MissingTool` saying how to get one."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    path = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if not path:
        raise MissingTool(f"the embedded Kafka broker needs Java (no java on PATH): {JAVA_HINT}")
    return path


def require(version: str = KAFKA_VERSION) -> Path:
    """The jar folder of ``version``, or :class:`MissingTool` naming what is missing."""
    java()
    if not is_installed(version):
        raise MissingTool(
            f"Apache Kafka {version} is not installed under {install_root()}: run `make install` "
            f"(or python -m alphapanda.embedded_broker.install {version}), or set EMBEDDED_BROKER=tansu"
        )
    return libs_dir(version)


def pom(version: str) -> str:
    deps = [("org.apache.kafka", f"kafka_{SCALA}", version), ("org.apache.kafka", "kafka-tools", version)]
    deps += LOGGING[major(version)]
    body = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>alphapanda</groupId><artifactId>embedded-kafka</artifactId><version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{body}
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
    <version>{DEPENDENCY_PLUGIN}</version>
  </plugin></plugins></build>
</project>
"""


def install(version: str = KAFKA_VERSION, *, quiet: bool = True) -> Path:
    """Resolve ``version`` with Maven into :func:`libs_dir` (once; a finished install is kept)."""
    if is_installed(version):
        return libs_dir(version)
    java()
    mvn = shutil.which("mvn")
    if not mvn:
        raise MissingTool(f"installing the embedded Kafka broker needs Maven (no mvn on PATH): {MAVEN_HINT}")
    target = libs_dir(version)
    staging = target.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="alphapanda-kafka-pom-") as work:
        (Path(work) / "pom.xml").write_text(pom(version))
        command = [mvn, "-B", *(["-q"] if quiet else []), f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN}:copy-dependencies",
                   f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
        result = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise MissingTool(f"Maven could not resolve Apache Kafka {version}:\n{(result.stdout + result.stderr)[-3000:]}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    _complete_mark(version).write_text(f"{version}\n")
    return target


def main(argv: list[str]) -> int:
    """``python -m alphapanda.embedded_broker.install [VERSION...]`` (default: both pinned ones).

    Exits 0 with a message when Java or Maven is missing, so that ``make run`` goes on with the
    Tansu fallback; exits 1 when Maven itself failed.
    """
    versions = argv or [KAFKA_VERSION, OTHER_MAJOR_VERSION]
    for version in versions:
        if is_installed(version):
            continue
        print(f"installing Apache Kafka {version} from Maven Central into {libs_dir(version)}", flush=True)
        try:
            install(version)
        except MissingTool as exc:
            print(f"alphapanda: {exc}", file=sys.stderr)
            if shutil.which("mvn") and shutil.which("java"):
                return 1
            print("alphapanda: `alphapanda run` will use the memory-only Tansu broker instead", file=sys.stderr)
            return 0
    from alphapanda.embedded_broker.kafka import build_class_archive

    for version in versions:
        build_class_archive(version)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
