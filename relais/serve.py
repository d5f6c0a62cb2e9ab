"""`relais serve`: the SMTP gateway, the web archive and the scheduler in one process."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from werkzeug.serving import make_server

from archive_web import create_app
from mailgateway.delivery import deliver_due
from mailgateway.indexer import index_pending
from mailgateway.server import start_gateway
from storage.config import Config, secret_key
from storage.instance import initialise

log = logging.getLogger("relais")


def serve(config: Config, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then stop each part cleanly."""
    stop = stop or threading.Event()
    engine = initialise(config)
    secret = secret_key(config)

    gateway = start_gateway(config, secret)
    web = make_server(config.web.host, config.web.port, create_app(config, engine), threaded=True)
    web_thread = threading.Thread(target=web.serve_forever, name="relais-web", daemon=True)
    web_thread.start()
    scheduler = BackgroundScheduler(timezone=config.forum.timezone)
    scheduler.add_job(deliver_due, "interval", seconds=config.delivery.interval_seconds,
                      args=[engine, config], id="deliver", max_instances=1, coalesce=True)
    # Also at once: what a crash left unindexed is picked up at start-up.
    scheduler.add_job(index_pending, "interval", seconds=2, args=[engine, config], id="index",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    scheduler.start()

    outgoing = (f"relay {config.delivery.relay_host}:{config.delivery.relay_port}"
                if config.delivery.relay_host else f"Maildir spool {config.spool_dir}")
    print(f"Relais is running: SMTP on {config.smtp.host}:{gateway.port}, "
          f"web on http://{config.web.host}:{web.server_port}/, outgoing mail to {outgoing}",
          flush=True)

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    stop.wait()

    print("Relais is stopping…", flush=True)
    gateway.stop()
    web.shutdown()
    web_thread.join(timeout=10)
    scheduler.shutdown(wait=True)
    engine.dispose()
    print("Relais stopped.", flush=True)
