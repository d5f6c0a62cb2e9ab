"""`relais serve` as an operator runs it: one process with the gateway, the web archive and
the scheduler, stopped cleanly by SIGTERM."""

from __future__ import annotations

import os
from email import message_from_bytes
from email.header import decode_header, make_header
import signal
import smtplib
import subprocess
import sys
import urllib.request
from pathlib import Path

from conftest import free_port
from mailfactory import make_mail


def test_serve_receives_mail_shows_it_sends_notices_and_stops_on_sigterm(make_config, tmp_path: Path, sink):
    config = make_config()
    smtp_port, web_port = free_port(), free_port()
    config_file = tmp_path / "relais.toml"
    config_file.write_text(f"""
[forum]
address = "forum@example.org"
base_url = "http://127.0.0.1:{web_port}"
[smtp]
port = {smtp_port}
[web]
port = {web_port}
[storage]
database_url = "{config.database_url}"
[archive]
visibility = "public"
[delivery]
relay_host = "127.0.0.1"
relay_port = {sink.port}
relay_starttls = false
interval_seconds = 1
""")
    members = tmp_path / "members.csv"
    members.write_text("email,name,organisation,organisation_kind,role\n"
                       "alice@example.org,Alice Martin,Eurodistrict,member,member\n")
    relais = [sys.executable, "-m", "relais.cli", "--config", str(config_file)]
    subprocess.run([*relais, "members", "import", str(members)], check=True, capture_output=True)

    server = subprocess.Popen([*relais, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        banner = server.stdout.readline()
        assert "Relais is running" in banner, banner + server.stderr.read()
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
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Relais stopped." in out
