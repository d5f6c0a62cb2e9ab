"""`relais serve`: the SMTP gateway, the web archive and the scheduler in one process.

It starts even when the storage is unavailable (a full disk, the database unreachable):
then it says so, answers mail 451 and pages 503, and tries to bring the storage up again
every few seconds until it can; no part needs a restart after an outage.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from werkzeug._internal import _log
from werkzeug.serving import WSGIRequestHandler, make_server

from archive_web import create_app
from mailgateway.bounces import process_bounces
from mailgateway.commands_moderation import process_command_mails
from mailgateway.delivery import deliver_due
from mailgateway.digest import send_digests
from mailgateway.fanout import deliver_posts
from mailgateway.indexer import IndexingJob
from mailgateway.reporting import send_periodic_report
from mailgateway.retention_job import apply_retention_periods
from mailgateway.requests import process_requests
from mailgateway.server import start_gateway
from storage.config import Config, secret_key
from storage.db import Engine, is_outage
from storage.instance import outage_text, prepare, start_instance
from storage.search_index import SearchIndex

log = logging.getLogger("relais")

STORAGE_RETRY_SECONDS = 5


class QuietDuringOutage:
    """A scheduled job that, while the storage is unavailable, logs once that it waits and
    once that it resumed, rather than a traceback at every run; it runs again at its next
    interval either way."""

    def __init__(self, job: Callable[..., object]) -> None:
        self.job, self.name = job, job.__name__
        self.waiting = False

    def __call__(self, *args: object) -> object:
        try:
            result = self.job(*args)
        except Exception as error:
            if not is_outage(error):
                raise
            if not self.waiting:
                log.error("%s waits for the storage to come back: %s", self.name, outage_text(error))
                self.waiting = True
            return None
        if self.waiting:
            log.warning("storage is back: %s resumed", self.name)
            self.waiting = False
        return result


class RequestLogWithoutAddress(WSGIRequestHandler):
    """The web access log without the client's IP address: Relais keeps IP addresses only
    in the sign-in rate limiter's counters, for [retention] ip_address_days."""

    def log(self, type: str, message: str, *args: Any) -> None:
        _log(type, f"- - - [{self.log_date_time_string()}] {message}\n", *args)


class StorageRecovery:
    """The scheduled job of a server started degraded: prepares the storage again until it
    succeeds, then says so and unschedules itself."""

    def __init__(self, engine: Engine, config: Config, scheduler: BackgroundScheduler) -> None:
        self.engine, self.config, self.scheduler = engine, config, scheduler

    def __call__(self) -> None:
        try:
            prepare(self.engine, self.config)
        except Exception as error:
            log.debug("storage still unavailable: %s", outage_text(error))
            return
        print("Relais: storage is back, no longer degraded.", flush=True)
        log.warning("storage is back: Relais is no longer degraded")
        self.scheduler.remove_job("storage-recovery")


def serve(config: Config, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then stop each part cleanly."""
    stop = stop or threading.Event()
    engine, degraded = start_instance(config)
    secret = secret_key(config)

    gateway = start_gateway(config, secret)
    # One index handle for the indexing job and the web searches: searchers are reused.
    search = SearchIndex(config.index_dir, config.search.writer_memory_mb)
    app = create_app(config, engine)
    app.extensions["relais.search"] = search
    web = make_server(config.web.host, config.web.port, app, threaded=True,
                      request_handler=RequestLogWithoutAddress)
    web_thread = threading.Thread(target=web.serve_forever, name="relais-web", daemon=True)
    web_thread.start()
    scheduler = BackgroundScheduler(timezone=config.forum.timezone)
    every = config.delivery.interval_seconds
    scheduler.add_job(QuietDuringOutage(deliver_due), "interval", seconds=every, args=[engine, config],
                      id="deliver", max_instances=1, coalesce=True)
    # Each accepted post to its subscribers, one personal copy each; at once too, so that a
    # restart resumes what was pending. Then member commands and bounces, and the digest.
    scheduler.add_job(QuietDuringOutage(deliver_posts), "interval", seconds=every, args=[engine, config],
                      id="deliver-posts", max_instances=1, coalesce=True,
                      next_run_time=datetime.now(timezone.utc))
    scheduler.add_job(QuietDuringOutage(process_requests), "interval", seconds=every, args=[engine, config],
                      id="requests", max_instances=1, coalesce=True)
    scheduler.add_job(QuietDuringOutage(process_bounces), "interval", seconds=every, args=[engine, config],
                      id="bounces", max_instances=1, coalesce=True)
    # Moderators' command mails: authenticated (DKIM needs DNS) away from the SMTP path.
    scheduler.add_job(QuietDuringOutage(process_command_mails), "interval", seconds=every,
                      args=[engine, config], id="moderation-commands", max_instances=1, coalesce=True)
    if config.reporting.recipients:
        when = {"day": 1} if config.reporting.frequency == "monthly" else {"day_of_week": "mon"}
        scheduler.add_job(QuietDuringOutage(send_periodic_report), "cron", hour=config.reporting.hour,
                          **when, args=[engine, config], id="report", max_instances=1, coalesce=True)
    scheduler.add_job(QuietDuringOutage(send_digests), "cron", hour=config.delivery.digest_hour,
                      args=[engine, config], id="digest", max_instances=1, coalesce=True)
    # The one index writer: every 2 s it writes what waits, in batches. Also at once: what
    # a crash or an outage left unindexed (or half-indexed) is picked up by each run.
    scheduler.add_job(IndexingJob(engine, config, search), "interval", seconds=2, id="index",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    # What is past its [retention] period; at start too, then hourly.
    scheduler.add_job(apply_retention_periods, "interval", hours=1, args=[engine, config], id="retention",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc))
    if degraded:
        scheduler.add_job(StorageRecovery(engine, config, scheduler), "interval",
                          seconds=STORAGE_RETRY_SECONDS, id="storage-recovery", max_instances=1,
                          coalesce=True)
    scheduler.start()

    outgoing = (f"relay {config.delivery.relay_host}:{config.delivery.relay_port}"
                if config.delivery.relay_host else f"Maildir spool {config.spool_dir}")
    print(f"Relais is running: SMTP on {config.smtp.host}:{gateway.port}, "
          f"web on http://{config.web.host}:{web.server_port}/, outgoing mail to {outgoing}",
          flush=True)
    if degraded:
        print(f"Relais is degraded: the storage is unavailable ({degraded}). Mail is answered 451 "
              f"(senders retry) and pages 503 until it is back; Relais checks every "
              f"{STORAGE_RETRY_SECONDS} s and recovers by itself.", flush=True)
        log.error("starting degraded, storage unavailable: %s", degraded)

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    stop.wait()

    print("Relais is stopping…", flush=True)
    gateway.stop()
    web.shutdown()
    web_thread.join(timeout=10)
    scheduler.shutdown(wait=True)
    search.close()
    engine.dispose()
    print("Relais stopped.", flush=True)
