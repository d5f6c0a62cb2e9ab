"""Starting and stopping the SMTP gateway (aiosmtpd's Controller in a thread)."""

from __future__ import annotations

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailgateway.handler import GatewayHandler, size_reply
from mailgateway.ingest import IngestWriter
from storage.config import Config


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with enhanced status codes on the replies aiosmtpd writes itself."""

    # Postfix in front of us wraps long lines at 2048; a direct client may not, and
    # refusing a message for a long line loses it. Keep a generous, bounded limit.
    line_length_limit = 65536

    def __init__(self, *args, forum_config: Config, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._too_big = size_reply(forum_config)

    async def push(self, status: str) -> None:
        if status.startswith("552 Error: "):
            status = self._too_big
        elif status.startswith("500 Line too long"):
            status = "500 5.5.2 Line too long"
        await super().push(status)


class GatewayController(Controller):
    def __init__(self, config: Config, handler: GatewayHandler, host: str, port: int) -> None:
        self.forum_config = config
        self.writer = handler.writer
        super().__init__(handler, hostname=host, port=port, server_hostname=config.domain,
                         ready_timeout=10)

    def start(self) -> None:
        self.writer.start(self.loop)  # before the loop runs in its thread
        super().start()

    def stop(self, no_assert: bool = False) -> None:
        # Stop taking mail first, then let the writer finish what it was given.
        super().stop(no_assert=no_assert)
        self.writer.stop()

    def factory(self) -> SMTP:
        return GatewaySMTP(
            self.handler, forum_config=self.forum_config, hostname=self.forum_config.domain,
            data_size_limit=self.forum_config.smtp.max_message_size, enable_SMTPUTF8=True,
            decode_data=False, ident=f"Relais {self.forum_config.forum.name}")


def start_gateway(config: Config, secret: str, host: str | None = None,
                  port: int | None = None) -> GatewayController:
    """Start the gateway (its writer process opens the database named by the config)."""
    handler = GatewayHandler(config, secret, IngestWriter(config, secret))
    controller = GatewayController(config, handler, host or config.smtp.host,
                                   config.smtp.port if port is None else port)
    controller.start()
    return controller
