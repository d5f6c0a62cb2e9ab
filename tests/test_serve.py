"""`relais serve` as an operator runs it: one process with the gateway, the web archive and
the scheduler, stopped cleanly by SIGTERM."""

from __future__ import annotations

import smtplib
import urllib.request
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

from conftest import free_port
from fault_support import Server, import_alice, write_config
from mailfactory import make_mail


def test_serve_receives_mail_shows_it_sends_notices_and_stops_on_sigterm(make_config, tmp_path: Path, sink):
    smtp_port, web_port = free_port(), free_port()
    config_file = write_config(tmp_path / "relais.toml", smtp_port=smtp_port, web_port=web_port,
                               database_url=make_config().database_url, relay_port=sink.port)
    import_alice(config_file)

    server = Server(config_file)
    try:
        server.wait_for_line("Relais is running")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.sendmail("alice@example.org", ["forum@example.org"],
                            make_mail("Obstacle : marchés publics transfrontaliers", message_id="o1@x"))
            client.sendmail("stranger@elsewhere.example", ["forum@example.org"],
                            make_mail("Offre exceptionnelle", message_id="s1@x", sender="stranger@elsewhere.example"))
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=30) as page:
            assert "Obstacle : marchés publics transfrontaliers" in page.read().decode()
        # The scheduler's delivery job tells the stranger that the message is held.
        [(envelope_from, recipients, notice)] = sink.wait_for(1, timeout=30)
        # It names nothing of the stranger's mail (an unverified address gets no echo).
        assert recipients == ["stranger@elsewhere.example"]
        assert "en attente de modération" in str(make_header(decode_header(
            message_from_bytes(notice)["Subject"])))
        assert b"s1@x" not in notice and b"Offre exceptionnelle" not in notice
    finally:
        returncode = server.stop()  # by SIGTERM
    assert returncode == 0, "".join(server.errors)
    assert "Relais stopped.\n" in server.lines
