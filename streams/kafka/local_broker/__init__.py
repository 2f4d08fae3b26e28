"""A single-node Apache Kafka (KRaft, broker + controller in one JVM) for tests and the local demo.

The broker's jars come from Maven Central via the pom beside this file and are cached
outside the repository; no Docker needed. State lives in a data directory: a fresh one
gives an empty cluster, the default one keeps its topics across stop/start.

With `secure=True` the broker listens with SASL_SSL only (SCRAM-SHA-512 users created when the
storage is formatted, a local CA and broker certificate made with Java's keytool on the spot)
and writes an env file a client sources to connect (see `secure_env`).
"""
from __future__ import annotations

import json
import logging
import os
import secrets
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
SCRAM_MECHANISM = "SCRAM-SHA-512"
CLIENT_USER = "cshealth"
BROKER_USER = "broker"  # the broker's own (inter-broker) SCRAM user
SECURE_DIR = "secure"   # inside the data dir: CA, keystore, password files, env file (owner-only)


class LocalKafkaError(RuntimeError):
    """The local broker could not be set up, started or stopped."""


@dataclass
class BrokerInfo:
    pid: int
    port: int
    controller_port: int
    data_dir: str
    secure: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env_file(self) -> Path | None:
        """The file to source for a client of a secure broker (None for a plain one)."""
        return Path(self.data_dir) / SECURE_DIR / "client.env" if self.secure else None


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


def _listener_properties(port: int, controller_port: int, secure: "SecureMaterial | None") -> list[str]:
    if secure is None:
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
        ]
    # Clients and the broker itself reach the broker only through SASL_SSL. The controller
    # listener (KRaft metadata) cannot use SCRAM, whose users live in that metadata: it takes
    # TLS with a client certificate from the local CA, which only the broker's keystore holds.
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{BROKER_USER}" password="{secure.broker_password}";')
    return [
        f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "listener.name.controller.ssl.client.auth=required",
        "inter.broker.listener.name=SASL_SSL",
        f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
        f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={secure.keystore}",
        f"ssl.keystore.password={secure.store_password}",
        f"ssl.key.password={secure.store_password}",
        "ssl.truststore.type=PKCS12",
        f"ssl.truststore.location={secure.truststore}",
        f"ssl.truststore.password={secure.store_password}",
        "ssl.client.auth=none",
    ]


def _properties(data_dir: Path, port: int, controller_port: int, secure: "SecureMaterial | None" = None) -> str:
    # Java .properties: no inline comments allowed.
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        *_listener_properties(port, controller_port, secure),
        "controller.listener.names=CONTROLLER",
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
          heap: str = "768m", secure: bool = False) -> BrokerInfo:
    """Start the broker in the background (idempotent) and wait until it answers metadata requests.

    `secure`: SASL_SSL (SCRAM-SHA-512) instead of PLAINTEXT; a data dir keeps the kind it was
    formatted with (its users and certificates live there), so asking for the other kind fails."""
    data_dir = Path(data_dir).resolve()
    formatted = (data_dir / "logs" / "meta.properties").exists()
    was_secure = (data_dir / SECURE_DIR / "ca.pem").exists()
    if formatted and was_secure != secure:
        kind = "with --secure" if was_secure else "without --secure"
        raise LocalKafkaError(f"{data_dir} holds a broker formatted {kind}; start it the same way or use a fresh --data-dir")
    running = status(data_dir)
    if running:
        return running
    if port is not None and not _port_free(port):
        raise LocalKafkaError(f"port {port} on 127.0.0.1 is already in use")
    jars = ensure_jars()
    port_requested = port
    data_dir.mkdir(parents=True, exist_ok=True)
    previous = json.loads(_state_file(data_dir).read_text()) if _state_file(data_dir).exists() else {}
    port = port or free_port(previous.get("port") or 9092)
    controller_port = free_port(previous.get("controller_port") or 9093)
    material = SecureMaterial.ensure(data_dir / SECURE_DIR) if secure else None
    props = data_dir / "server.properties"
    props.touch(mode=0o600)
    props.chmod(0o600)  # with --secure it holds the keystore and broker passwords
    props.write_text(_properties(data_dir, port, controller_port, material))
    classpath = f"{jars}/*"
    java = ["java", "-Xms256m", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={data_dir}", "-cp", classpath]
    if not formatted:
        cluster_id = subprocess.run(java + ["kafka.tools.StorageTool", "random-uuid"],
                                    capture_output=True, text=True, check=True).stdout.strip()
        scram = []
        if material:
            # SCRAM credentials live in the cluster metadata: formatting is when they can exist
            # before the broker (which authenticates to itself as BROKER_USER) first starts.
            for user, password in ((BROKER_USER, material.broker_password), (CLIENT_USER, material.client_password)):
                scram += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={password}]"]
        fmt = subprocess.run(java + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *scram],
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            output = f"{fmt.stdout}{fmt.stderr}".strip()
            if material:
                for secret in (material.broker_password, material.client_password, material.store_password):
                    output = output.replace(secret, "***")
            raise LocalKafkaError(f"formatting Kafka storage failed: {output}")
    if material and port_requested is None and not _port_free(port):
        # Made while the CA, keystore and format took their seconds: someone else's broker may
        # have taken the port meanwhile.
        port = free_port()
        props.write_text(_properties(data_dir, port, controller_port, material))
    log = open(data_dir / "broker.out", "ab")
    proc = subprocess.Popen(java + ["kafka.Kafka", str(props)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    info = BrokerInfo(pid=proc.pid, port=port, controller_port=controller_port, data_dir=str(data_dir),
                      secure=secure)
    _state_file(data_dir).write_text(json.dumps(info.__dict__))
    client_options = {}
    if material:
        material.write_env(info.bootstrap)
        client_options = material.client_options()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalKafkaError(f"Kafka exited with code {proc.returncode}; see {data_dir / 'server.log'}")
        if broker_answers(info.bootstrap, **client_options):
            return info
        time.sleep(0.5)
    stop(data_dir)
    raise LocalKafkaError(f"Kafka did not answer on {info.bootstrap} within {timeout_s:.0f}s; see {data_dir / 'server.log'}")


def broker_answers(bootstrap: str, timeout_s: float = 5.0, **client_options) -> bool:
    """True when the broker answers a metadata request naming a broker (`client_options`: aiokafka
    security options)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000),
                                    **client_options)
        # A broker still starting refuses the handshake: expected here, so not worth aiokafka's error lines.
        quiet = logging.getLogger("aiokafka")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            # A broker still starting answers with no broker in its metadata; a client that
            # bootstraps then may never learn one (aio-libs/aiokafka#551): not started yet.
            cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
            return bool(cluster.get("brokers"))
        except Exception:
            return False
        finally:
            await admin.close()
            quiet.setLevel(level)

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


class SecureMaterial:
    """What a secure broker needs, made once per data dir and kept there (owner-only files):
    a local CA (ca.pem is what clients trust), the broker's PKCS12 keystore signed by it for
    127.0.0.1 and localhost, and the SCRAM passwords. Made with Java's keytool (the broker needs
    Java anyway): nothing is downloaded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_pem = directory / "ca.pem"
        self.keystore = directory / "broker.p12"
        self.truststore = directory / "truststore.p12"
        self.client_password_file = directory / f"{CLIENT_USER}.password"
        self.env_file = directory / "client.env"

    def _secret(self, name: str) -> str:
        return (self.directory / name).read_text().strip()

    @property
    def store_password(self) -> str:
        return self._secret("keystore.password")

    @property
    def broker_password(self) -> str:
        return self._secret(f"{BROKER_USER}.password")

    @property
    def client_password(self) -> str:
        return self.client_password_file.read_text().strip()

    @classmethod
    def ensure(cls, directory: Path) -> "SecureMaterial":
        material = cls(directory)
        if not material.ca_pem.exists() or not material.keystore.exists():
            material._create()
        return material

    def _create(self) -> None:
        if not shutil.which("keytool"):
            raise LocalKafkaError("keytool (from the Java runtime) is needed for --secure")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        for name in ("keystore.password", f"{BROKER_USER}.password", f"{CLIENT_USER}.password"):
            _write_private(self.directory / name, secrets.token_hex(24) + "\n")
        make_ca(self.directory / "ca.p12", self.ca_pem, self.store_password, "cshealth local CA")
        store = self.store_password
        csr, signed = self.directory / "broker.csr", self.directory / "broker.pem"
        _keytool("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1",
                 "-dname", "CN=127.0.0.1", "-validity", "825", "-storetype", "PKCS12",
                 "-keystore", self.keystore, "-storepass", store, "-keypass", store)
        _keytool("-certreq", "-alias", "broker", "-keystore", self.keystore, "-storepass", store, "-file", csr)
        _keytool("-gencert", "-alias", "ca", "-keystore", self.directory / "ca.p12", "-storepass", store,
                 "-infile", csr, "-outfile", signed, "-rfc", "-validity", "825",
                 "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "KU=digitalSignature,keyEncipherment",
                 "-ext", "EKU=serverAuth,clientAuth")
        # The chain (CA first, then the signed certificate) replaces the self-signed one.
        _keytool("-importcert", "-noprompt", "-alias", "ca", "-file", self.ca_pem,
                 "-keystore", self.keystore, "-storepass", store)
        _keytool("-importcert", "-noprompt", "-alias", "broker", "-file", signed,
                 "-keystore", self.keystore, "-storepass", store, "-keypass", store)
        _keytool("-importcert", "-noprompt", "-alias", "ca", "-file", self.ca_pem, "-storetype", "PKCS12",
                 "-keystore", self.truststore, "-storepass", store)
        csr.unlink()
        for path in self.directory.iterdir():
            path.chmod(0o600)
        self.ca_pem.chmod(0o644)  # a certificate is public

    def client_options(self) -> dict:
        """aiokafka options of the client user (the broker's readiness probe)."""
        from aiokafka.helpers import create_ssl_context

        return {"security_protocol": "SASL_SSL", "sasl_mechanism": SCRAM_MECHANISM,
                "sasl_plain_username": CLIENT_USER, "sasl_plain_password": self.client_password,
                "ssl_context": create_ssl_context(cafile=str(self.ca_pem))}

    def write_env(self, bootstrap: str) -> None:
        """The client's settings; the password stays in its own file (named, never copied)."""
        lines = [f"CSHEALTH_BOOTSTRAP_SERVERS={bootstrap}", "CSHEALTH_SECURITY_PROTOCOL=SASL_SSL",
                 f"CSHEALTH_SASL_MECHANISM={SCRAM_MECHANISM}", f"CSHEALTH_SASL_USERNAME={CLIENT_USER}",
                 f"CSHEALTH_SASL_PASSWORD_FILE={self.client_password_file}", f"CSHEALTH_SSL_CAFILE={self.ca_pem}"]
        _write_private(self.env_file, "".join(f"export {line}\n" for line in lines))

    @staticmethod
    def read_env(env_file: Path) -> dict[str, str]:
        """The variables of an env file written by write_env."""
        env = {}
        for line in Path(env_file).read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            if name:
                env[name] = value
        return env


def secure_env(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, str]:
    """The CSHEALTH_* variables a client of the secure broker on data_dir needs."""
    return SecureMaterial.read_env(Path(data_dir).resolve() / SECURE_DIR / "client.env")


def make_ca(keystore: Path, pem: Path, password: str, name: str) -> None:
    """A self-signed CA in a PKCS12 keystore, its certificate as PEM (what clients trust)."""
    _keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", f"CN={name}",
             "-ext", "bc:c=ca:true", "-ext", "KU=keyCertSign,cRLSign", "-validity", "3650",
             "-storetype", "PKCS12", "-keystore", keystore, "-storepass", password, "-keypass", password)
    _keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", keystore, "-storepass", password, "-file", pem)


def _keytool(*args) -> None:
    proc = subprocess.run(["keytool", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        # keytool's arguments hold the store password: name the step, not the command line.
        raise LocalKafkaError(f"keytool {args[0]} failed: {(proc.stdout + proc.stderr).strip()[-400:]}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
