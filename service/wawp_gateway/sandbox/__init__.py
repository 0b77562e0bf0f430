"""A local simulator of the Wawp WhatsApp HTTP API, for development, tests and benchmarks.

It reads the catalog data the package ships (``wawp/endpoints.json``) on its own, without the
gateway's client code, so that it catches that client's routing mistakes.

    sandbox = Sandbox(SandboxConfig(instances={"SANDBOX00001": "dev-token"}))
    async with running_sandbox(sandbox) as base_url:
        ...  # POST {base_url}/wp-json/awp/v1/send?instance_id=...&access_token=...
"""

from .app import create_app
from .catalog import V1_PREFIX
from .config import SandboxConfig
from .faults import FaultKind, FaultRule
from .inflight import HeldRequest
from .requestlog import RequestRecord
from .sandbox import Sandbox
from .server import SandboxPortInUseError, running_sandbox, serve
from .state import Engine, SessionStatus, StoredMessage

__all__ = [
    "V1_PREFIX",
    "Engine",
    "FaultKind",
    "FaultRule",
    "HeldRequest",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "SandboxPortInUseError",
    "SessionStatus",
    "StoredMessage",
    "create_app",
    "running_sandbox",
    "serve",
]
