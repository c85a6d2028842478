"""Run the api server: ``python -m api`` (the hub starts it this way as a managed service)."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import uvicorn

from api.core.config import get_settings
from api.core.logging import configure_logging, json_logging_config
from api.main import create_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    # The hub tells a managed service where to listen through JUPYTERHUB_SERVICE_URL.
    service_url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
    host = service_url.hostname or "127.0.0.1"
    port = service_url.port or settings.api_port
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=json_logging_config(settings.log_level),
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
