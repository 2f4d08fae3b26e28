"""Why Kafka refused this client, in one line: the clients log the cause (a failed handshake, a
failed authentication) and raise a generic "unable to bootstrap"; a command that fails to reach
the broker asks here, with the same settings, what went wrong."""
from __future__ import annotations

import asyncio
import ssl

from streams.settings import Settings

PROBE_TIMEOUT_S = 10.0


class KafkaAccessError(ConnectionError):
    """The broker cannot be reached or refuses these settings; the message says which and why."""


async def _probe(settings: Settings, host: str, port: int) -> str | None:
    """None when this server accepts the settings (metadata answered), else the reason."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed
    from aiokafka.protocol.metadata import MetadataRequest

    options = settings.kafka_client_options()
    options.pop("bootstrap_servers")
    where = f"Kafka at {host}:{port}"
    protocol = f"CSHEALTH_SECURITY_PROTOCOL={settings.security_protocol}"
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000), **options), PROBE_TIMEOUT_S)
    except ssl.SSLCertVerificationError as exc:
        return (f"CSHEALTH_SSL_CAFILE: {where} presented a certificate this CA does not trust "
                f"({exc.verify_message}; CA file: {settings.ssl_cafile or 'the system default'})")
    except ssl.SSLError as exc:
        return f"{where}: TLS handshake failed ({exc.reason or exc}); does {protocol} match its listener?"
    except SaslAuthenticationFailed:
        variable = "CSHEALTH_SASL_PASSWORD_FILE" if settings.sasl_password_file else "CSHEALTH_SASL_PASSWORD"
        return (f"{variable}: {where} refused user {settings.sasl_username!r} with "
                f"{settings.sasl_mechanism}: wrong user name or password")
    except (asyncio.TimeoutError, TimeoutError):
        return f"{where}: no answer within {PROBE_TIMEOUT_S:.0f} s; does {protocol} match its listener?"
    except ConnectionRefusedError:
        return f"{where} is unreachable (connection refused)"
    except (KafkaError, OSError) as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"CSHEALTH_SSL_CAFILE: {where} presented a certificate this CA does not trust "
                    f"({cause.verify_message}; CA file: {settings.ssl_cafile or 'the system default'})")
        return f"{where} closed the connection ({type(exc).__name__}); does {protocol} match its listener (TLS or credentials needed?)"
    try:
        await asyncio.wait_for(conn.send(MetadataRequest([])), PROBE_TIMEOUT_S)
    except (KafkaError, OSError, asyncio.TimeoutError):
        # Typically a PLAINTEXT or SSL-only client on a SASL listener: the broker drops the
        # request it cannot read as a handshake.
        return f"{where} closed the connection; does {protocol} match its listener (credentials needed?)"
    finally:
        conn.close()
    return None


async def explain(settings: Settings) -> str | None:
    """None when a bootstrap server accepts these settings, else why the first one refuses them.
    The servers are asked at once, so the answer comes within PROBE_TIMEOUT_S (plus the handshake)."""
    servers = [server.strip().rpartition(":") for server in settings.bootstrap_servers.split(",")]
    reasons = await asyncio.gather(*(_probe(settings, host, int(port)) for host, _, port in servers))
    return None if None in reasons else reasons[0]


def check(settings: Settings) -> None:
    """Raise KafkaAccessError with the one-line reason when the broker refuses these settings."""
    reason = asyncio.run(explain(settings))
    if reason:
        raise KafkaAccessError(reason)
