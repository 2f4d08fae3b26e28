"""A single-node Apache Kafka (KRaft, broker + controller in one JVM) for tests and the local demo.

The broker's jars come from Maven Central via the pom beside this file and are cached
outside the repository; no Docker needed. State lives in a data directory: a fresh one
gives an empty cluster, the default one keeps its topics across stop/start.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
KAFKA_VERSION = "4.1.1"
CACHE_HOME = Path(os.environ.get("CSHEALTH_CACHE_DIR", Path.home() / ".cache" / "cshealth"))
DEFAULT_DATA_DIR = CACHE_HOME / "kafka-data"
JAR_DIR = CACHE_HOME / f"kafka-jars-{KAFKA_VERSION}"


class LocalKafkaError(RuntimeError):
    """The local broker could not be set up, started or stopped."""


@dataclass
class BrokerInfo:
    pid: int
    port: int
    controller_port: int
    data_dir: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def free_port(preferred: int | None = None) -> int:
    if preferred and _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def ensure_jars() -> Path:
    """Resolve the broker's runtime classpath into the cache (once; reused afterwards)."""
    marker = JAR_DIR / ".complete"
    if marker.exists():
        return JAR_DIR
    if not shutil.which("mvn") or not shutil.which("java"):
        raise LocalKafkaError("java and mvn are needed to run the local Kafka (apt-get install default-jdk-headless maven)")
    JAR_DIR.mkdir(parents=True, exist_ok=True)
    cmd = ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={JAR_DIR}", f"-Dkafka.version={KAFKA_VERSION}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LocalKafkaError(f"maven could not resolve Kafka jars: {(proc.stdout + proc.stderr).strip()[-800:]}")
    marker.touch()
    return JAR_DIR


def _properties(data_dir: Path, port: int, controller_port: int) -> str:
    # Java .properties: no inline comments allowed.
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir / 'logs'}",
        "num.partitions=8",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.segment.bytes=67108864",
        "message.max.bytes=4194304",
        "",
    ])


def _state_file(data_dir: Path) -> Path:
    return data_dir / "broker.json"


def status(data_dir: Path = DEFAULT_DATA_DIR) -> BrokerInfo | None:
    """The broker running on this data dir, or None."""
    path = _state_file(data_dir)
    if not path.exists():
        return None
    info = BrokerInfo(**json.loads(path.read_text()))
    return info if _alive(info.pid) else None


def start(data_dir: Path = DEFAULT_DATA_DIR, port: int | None = None, timeout_s: float = 90.0,
          heap: str = "768m") -> BrokerInfo:
    """Start the broker in the background (idempotent) and wait until it answers metadata requests."""
    data_dir = Path(data_dir).resolve()
    running = status(data_dir)
    if running:
        return running
    if port is not None and not _port_free(port):
        raise LocalKafkaError(f"port {port} on 127.0.0.1 is already in use")
    jars = ensure_jars()
    data_dir.mkdir(parents=True, exist_ok=True)
    previous = json.loads(_state_file(data_dir).read_text()) if _state_file(data_dir).exists() else {}
    port = port or free_port(previous.get("port") or 9092)
    controller_port = free_port(previous.get("controller_port") or 9093)
    props = data_dir / "server.properties"
    props.write_text(_properties(data_dir, port, controller_port))
    classpath = f"{jars}/*"
    java = ["java", "-Xms256m", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={data_dir}", "-cp", classpath]
    if not (data_dir / "logs" / "meta.properties").exists():
        cluster_id = subprocess.run(java + ["kafka.tools.StorageTool", "random-uuid"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        fmt = subprocess.run(java + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            raise LocalKafkaError(f"formatting Kafka storage failed: {fmt.stdout}{fmt.stderr}".strip())
    log = open(data_dir / "broker.out", "ab")
    proc = subprocess.Popen(java + ["kafka.Kafka", str(props)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    info = BrokerInfo(pid=proc.pid, port=port, controller_port=controller_port, data_dir=str(data_dir))
    _state_file(data_dir).write_text(json.dumps(info.__dict__))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalKafkaError(f"Kafka exited with code {proc.returncode}; see {data_dir / 'server.log'}")
        if broker_answers(info.bootstrap):
            return info
        time.sleep(0.5)
    stop(data_dir)
    raise LocalKafkaError(f"Kafka did not answer on {info.bootstrap} within {timeout_s:.0f}s; see {data_dir / 'server.log'}")


def broker_answers(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True when the broker answers a metadata request."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            await asyncio.wait_for(admin.describe_cluster(), timeout_s)
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return asyncio.run(probe())


def stop(data_dir: Path = DEFAULT_DATA_DIR, timeout_s: float = 30.0) -> bool:
    """SIGTERM the broker (clean shutdown), SIGKILL after timeout. False if none was running."""
    from streams.devstack.processes import stop_process  # it builds on this module

    info = status(Path(data_dir).resolve())
    return info is not None and stop_process(info.pid, timeout_s)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped by us) counts as stopped.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
