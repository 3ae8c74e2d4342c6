"""One connection to Kafka before anything else talks to it, to stop on settings that never work.

A Kafka client retries an untrusted certificate or a refused password forever, logging a
reconnect each time; a trading worker should instead stop at startup and say which setting is
wrong. :func:`check` makes one connection the way every client will (TLS, SASL) and raises
:class:`KafkaSetupError` naming the setting. A broker that does not answer is not an error here:
the worker starts and waits for it, as it always has.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from alphapanda.kafka_connection import KafkaConnection, KafkaSetupError, as_connection

__all__ = ["KafkaSetupError", "check", "check_sync"]

log = logging.getLogger(__name__)


async def check(connection: KafkaConnection | str, *, timeout: float = 10.0) -> int | None:
    """Connect to the first bootstrap server that answers; the number of live brokers it reports.

    None when no server answers. Raises :class:`KafkaSetupError` for an untrusted certificate, a
    failed TLS handshake, refused credentials or an unsupported SASL mechanism.
    """
    from aiokafka import errors
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    connection = as_connection(connection)
    protocol = connection.security_protocol
    security = connection.security_options()  # KafkaSetupError for an unreadable PEM file
    for host, port in connection.hosts:
        where = f"{host}:{port}"
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout * 1000), **security),
                timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            trusted = f"the CA in {connection.ssl_cafile}" if connection.ssl_cafile else "this system's CAs"
            raise KafkaSetupError(
                f"KAFKA__SSL_CAFILE: the certificate of {where} is not trusted by {trusted} "
                f"({exc.verify_message}); set KAFKA__SSL_CAFILE to the CA that signed the broker's certificate"
            ) from None
        except ssl.SSLError as exc:
            raise KafkaSetupError(
                f"KAFKA__SECURITY_PROTOCOL={protocol}: the TLS handshake with {where} failed "
                f"({exc.reason or exc}); is that a TLS listener, and KAFKA__SSL_CERTFILE/KAFKA__SSL_KEYFILE right?"
            ) from None
        except (errors.SaslAuthenticationFailed, errors.AuthenticationFailedError) as exc:
            raise KafkaSetupError(
                f"KAFKA__SASL_USERNAME / KAFKA__SASL_PASSWORD: {where} refused the credentials of user "
                f"{connection.sasl_username!r} ({connection.sasl_mechanism}): {_without_secret(exc, connection)}"
            ) from None
        except errors.UnsupportedSaslMechanismError as exc:
            raise KafkaSetupError(
                f"KAFKA__SASL_MECHANISM={connection.sasl_mechanism}: {where} does not offer it ({exc})"
            ) from None
        except (OSError, asyncio.TimeoutError, errors.KafkaError) as exc:
            log.info("Kafka at %s does not answer yet: %s", where, _without_secret(exc, connection))
            continue
        try:
            response = await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
        except (OSError, asyncio.TimeoutError, errors.KafkaError) as exc:
            if protocol == "PLAINTEXT":
                log.warning(
                    "%s took a connection but did not answer a metadata request (%s): "
                    "does it need KAFKA__SECURITY_PROTOCOL=SSL or SASL_SSL?", where, type(exc).__name__,
                )
            continue
        finally:
            conn.close()
        return len(response.brokers)
    return None


def check_sync(connection: KafkaConnection | str, *, timeout: float = 10.0) -> int | None:
    """:func:`check` from synchronous code (the CLI), in a loop of its own."""
    return asyncio.run(check(connection, timeout=timeout))


def _without_secret(exc: BaseException, connection: KafkaConnection) -> str:
    text = str(exc) or type(exc).__name__
    if connection.sasl_password:
        text = text.replace(connection.sasl_password, "**********")
    return text
