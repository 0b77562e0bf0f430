"""``wawp-gateway dev``: the whole system on one machine, on fixed local ports.

Embedded broker 9092, Wawp sandbox 8081, webhook receiver 8080 (the sandbox posts its webhooks
there with the dev secret), worker metrics 9464, the delivery tracker (its metrics on a free
port, shown in the banner), one sandbox instance ``SANDBOX00001``.
Environment variables still win over these defaults.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from urllib.parse import quote

import structlog

from wawp_gateway.core.broker import port_is_free, start_embedded_broker
from wawp_gateway.core.config import load_settings
from wawp_gateway.core.errors import ConfigError
from wawp_gateway.core.instances import InstanceConfig, InstancesConfig
from wawp_gateway.core.kafka import create_gateway_topics
from wawp_gateway.core.logs import configure_logging
from wawp_gateway.core.sections import LogSettings

__all__ = ["DEV_INSTANCE", "DEV_TOKEN", "DEV_WEBHOOK_SECRET", "run_dev"]

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
# Fixed by docs/contract.md "Local run".
BROKER_PORT, SANDBOX_PORT, WEBHOOK_PORT, METRICS_PORT = 9092, 8081, 8080, 9464
DEV_INSTANCE = "SANDBOX00001"
DEV_TOKEN = "sandbox-dev-token"
DEV_WEBHOOK_SECRET = "sandbox-dev-webhook-secret"

# Group timings short enough that the worker joins in a few seconds ("usable at once").
_DEV_ENV: Mapping[str, str] = MappingProxyType(
    {
        "GATEWAY_KAFKA__BOOTSTRAP_SERVERS": f"{HOST}:{BROKER_PORT}",
        "GATEWAY_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "GATEWAY_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "GATEWAY_KAFKA__REBALANCE_TIMEOUT_MS": "6000",
        "GATEWAY_WAWP__BASE_URL": f"http://{HOST}:{SANDBOX_PORT}/wp-json/awp/v1",
        "GATEWAY_WAWP__V2_BASE_URL": f"http://{HOST}:{SANDBOX_PORT}",
        "GATEWAY_WAWP__TIMEOUT_S": "5",
        "GATEWAY_METRICS__HOST": HOST,
        "GATEWAY_METRICS__PORT": str(METRICS_PORT),
        "GATEWAY_WEBHOOK__HOST": HOST,
        "GATEWAY_WEBHOOK__PORT": str(WEBHOOK_PORT),
        "GATEWAY_WEBHOOK__SECRET": DEV_WEBHOOK_SECRET,
        "GATEWAY_SHUTDOWN__GRACE_S": "5",
    }
)

TRY_COMMAND = (
    f"wawp-gateway send sendImage --instance {DEV_INSTANCE} --param chatId=447441429009 "
    "--param file.url=https://example.com/receipt.png --param file.mimetype=image/png "
    "--param file.filename=receipt.png --param caption=Hello --wait"
)


def _webhook_lines(webhook_port: int, secret: str | None) -> tuple[list[str], list[str]]:
    """The receiver's secret for the address list, and how to post a webhook by hand. Only the
    dev secret (fixed and public) is printed; a secret from the environment stays there."""
    if secret is None:
        return [], []
    if secret == DEV_WEBHOOK_SECRET:
        shown, query = f"{secret}  (GATEWAY_WEBHOOK__SECRET)", quote(secret, safe="")
    else:
        shown, query = "from GATEWAY_WEBHOOK__SECRET", "$GATEWAY_WEBHOOK__SECRET"
    url = f"http://{HOST}:{webhook_port}/webhooks/wawp?secret={query}"
    body = f'{{"event": "session.status", "session": "{DEV_INSTANCE}", "payload": {{}}}}'
    return [f"  webhook secret    {shown}"], [
        "Post a webhook by hand (it lands on the events topic):",
        f"  curl -X POST \"{url}\" -H 'Content-Type: application/json' -d '{body}'",
        "",
    ]


def _banner(
    bootstrap: str,
    sandbox_port: int,
    webhook_port: int,
    metrics_port: int,
    tracker_port: int,
    secret: str | None,
) -> str:
    secret_line, post_lines = _webhook_lines(webhook_port, secret)
    return "\n".join(
        [
            "",
            "wawp-gateway dev is running (Ctrl-C stops everything)",
            f"  Kafka (embedded)  {bootstrap}",
            f"  Wawp sandbox      http://{HOST}:{sandbox_port}/wp-json/awp/v1  "
            f"(v2 root http://{HOST}:{sandbox_port}; request log /_sandbox/requests)",
            f"  webhook receiver  http://{HOST}:{webhook_port}/webhooks/wawp  "
            f"(events on the events topic; metrics http://{HOST}:{webhook_port}/metrics)",
            *secret_line,
            f"  worker metrics    http://{HOST}:{metrics_port}/metrics",
            f"  delivery tracker  http://{HOST}:{tracker_port}/metrics  "
            "(message acks on the delivery topic)",
            f"  instance          {DEV_INSTANCE}",
            "",
            "Try, in another terminal (with the virtualenv active: . .venv/bin/activate):",
            f"  {TRY_COMMAND}",
            "",
            *post_lines,
        ]
    )


def _check_ports(ports: Mapping[str, int]) -> None:
    for setting, port in ports.items():
        if port and not port_is_free(HOST, port):
            raise ConfigError(
                setting, f"port {HOST}:{port} is already in use (is dev already running?)"
            )


def _embedded_port(bootstrap: str) -> int:
    host, _, port = bootstrap.rpartition(":")
    if "," in bootstrap or host not in (HOST, "localhost") or not port.isdigit():
        raise ConfigError(
            "GATEWAY_KAFKA__BOOTSTRAP_SERVERS",
            f"the embedded broker listens on {HOST}:PORT, not {bootstrap!r} "
            "(use --broker external to run on an existing cluster)",
        )
    return int(port)


async def run_dev(
    stopping: asyncio.Event,
    *,
    state_dir: Path,
    sandbox_port: int = SANDBOX_PORT,
    embedded_broker: bool = True,
) -> None:
    from wawp_gateway.core.config import ReceiverSettings, TrackerProcessSettings
    from wawp_gateway.core.sections import MetricsSettings
    from wawp_gateway.core.tracing import Tracing
    from wawp_gateway.sandbox import Sandbox, SandboxConfig, serve
    from wawp_gateway.tracker.service import running_tracker
    from wawp_gateway.webhook.server import running_webhook
    from wawp_gateway.worker.app import build_worker, tune_for_service

    for name, value in _DEV_ENV.items():
        os.environ.setdefault(name, value.replace(str(SANDBOX_PORT), str(sandbox_port)))
    configure_logging(LogSettings(format=os.environ.get("GATEWAY_LOG__FORMAT", "console")))
    overrides = {}
    if not os.environ.get("GATEWAY_INSTANCES_FILE"):
        overrides["instances"] = InstancesConfig(
            instances={DEV_INSTANCE: InstanceConfig(access_token=DEV_TOKEN)}
        )
    settings = load_settings(**overrides)
    broker_port = _embedded_port(settings.kafka.bootstrap_servers) if embedded_broker else 0
    _check_ports(
        {
            "GATEWAY_KAFKA__BOOTSTRAP_SERVERS": broker_port,
            "--sandbox-port": sandbox_port,
            "GATEWAY_METRICS__PORT": settings.metrics.port,
            "GATEWAY_WEBHOOK__PORT": settings.webhook.port,
        }
    )
    broker = start_embedded_broker(state_dir, host=HOST, port=broker_port) if broker_port else None
    sandbox = Sandbox(SandboxConfig.model_validate({"instances": {DEV_INSTANCE: DEV_TOKEN}}))
    server = asyncio.create_task(serve(sandbox, HOST, sandbox_port))
    tracing = Tracing.from_environ(os.environ, service="wawp-gateway-dev")
    try:
        await create_gateway_topics(settings.kafka, settings.topics, settings.idempotency)
        receiver = ReceiverSettings(
            kafka=settings.kafka, topics=settings.topics, webhook=settings.webhook, log=settings.log
        )
        tracking = TrackerProcessSettings(
            kafka=settings.kafka,
            topics=settings.topics,
            metrics=MetricsSettings(host=HOST, port=0),  # the worker has the fixed port
            tracker=settings.tracker,
            log=settings.log,
        )
        async with (
            running_webhook(receiver) as (webhook_port, _),
            build_worker(settings, tracing=tracing) as app,
            running_tracker(tracking, tracing=tracing) as tracker,
        ):
            secret = settings.webhook.secret
            plain_secret = secret.get_secret_value() if secret else None
            sandbox.set_webhook(f"http://{HOST}:{webhook_port}/webhooks/wawp", secret=plain_secret)
            tune_for_service()
            print(
                _banner(
                    settings.kafka.bootstrap_servers,
                    sandbox_port,
                    webhook_port,
                    app.metrics_port,
                    tracker.metrics_port,
                    plain_secret,
                ),
                flush=True,
            )
            tracking_task = asyncio.create_task(tracker.run(stopping))
            try:
                await app.worker.run(stopping)
            finally:
                stopping.set()
                await tracking_task
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        await sandbox.aclose()
        await asyncio.to_thread(tracing.shutdown)
        if broker is not None:
            broker.stop()
        log.info("dev.stopped")
