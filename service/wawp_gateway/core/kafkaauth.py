"""Why the brokers refused us: a failed start diagnosed as ``KafkaTlsFailed`` or
``KafkaAuthFailed`` (docs/security.md).

aiokafka reports every failed bootstrap as ``KafkaConnectionError("Unable to bootstrap")``, with
the real cause only in a log line. After such a failure one more connection is opened to each
bootstrap server with the same options, and what it raises is mapped once, here:

- ``ssl.SSLCertVerificationError``: the broker's certificate is not signed by the trusted CA,
  or names another host;
- another ``ssl.SSLError``: no TLS session at all (e.g. the port does not speak TLS);
- the connection closed right after the TLS handshake, before the first answer: the broker
  refused the client certificate, or wanted one (mutual TLS, TLS 1.3 reports it only then);
- ``SaslAuthenticationFailed``: wrong user name or password; ``UnsupportedSaslMechanismError``:
  the broker does not offer the mechanism; ``IllegalSaslStateError``: it does not expect SASL.

Anything else (refused connection, time-out) is not a refusal: the caller keeps its own error.
Messages name the broker and the setting to look at, never the password.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from wawp_gateway.core.errors import KafkaAuthFailed, KafkaRefused, KafkaTlsFailed

__all__ = ["diagnose_refusal", "refusal_of"]

_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_PROBE_TIMEOUT_S = 10.0


async def diagnose_refusal(
    bootstrap_servers: str, options: Mapping[str, Any]
) -> KafkaRefused | None:
    """Connect to each bootstrap server once; the first refusal found, or None."""
    for server in (s.strip() for s in bootstrap_servers.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        if not port.isdigit():
            continue
        try:
            conn = await asyncio.wait_for(
                create_conn(host.strip("[]"), int(port), **options), _PROBE_TIMEOUT_S
            )
        except (OSError, KafkaError, TimeoutError) as exc:
            refusal = refusal_of(exc, server, options)
            if refusal is not None:
                return refusal
            continue
        conn.close()
    return None


def refusal_of(exc: BaseException, server: str, options: Mapping[str, Any]) -> KafkaRefused | None:
    """The typed refusal a connection attempt's exception means, or None."""
    mechanism = options.get("sasl_mechanism", "PLAIN")
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return KafkaTlsFailed(
                "GATEWAY_KAFKA__BOOTSTRAP_SERVERS",
                f"the certificate of broker {server} does not name that host "
                f"({exc.verify_message}); GATEWAY_KAFKA__SSL_CHECK_HOSTNAME=false skips the check",
            )
        return KafkaTlsFailed(
            "GATEWAY_KAFKA__SSL_CAFILE",
            f"the certificate of broker {server} could not be verified ({exc.verify_message})",
        )
    if isinstance(exc, ssl.SSLError):
        return KafkaTlsFailed(
            "GATEWAY_KAFKA__SECURITY_PROTOCOL",
            f"no TLS session with broker {server} "
            f"({getattr(exc, 'reason', None) or exc.__class__.__name__})",
        )
    if isinstance(exc, SaslAuthenticationFailed):
        return KafkaAuthFailed(
            "GATEWAY_KAFKA__SASL_PASSWORD",
            f"broker {server} refused the SASL {mechanism} login of user "
            f"{options.get('sasl_plain_username')!r} (wrong user name or password)",
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return KafkaAuthFailed(
            "GATEWAY_KAFKA__SASL_MECHANISM", f"broker {server} does not offer SASL {mechanism}"
        )
    if isinstance(exc, IllegalSaslStateError):
        return KafkaAuthFailed(
            "GATEWAY_KAFKA__SECURITY_PROTOCOL", f"broker {server} does not expect a SASL login"
        )
    if (
        isinstance(exc, KafkaConnectionError)
        and options.get("ssl_context") is not None
        and isinstance(exc.__cause__, asyncio.IncompleteReadError | ConnectionResetError)
    ):
        return KafkaTlsFailed(
            "GATEWAY_KAFKA__SSL_CERTFILE",
            f"broker {server} closed the connection after the TLS handshake: it wants a client "
            "certificate it trusts (mutual TLS)",
        )
    return None
