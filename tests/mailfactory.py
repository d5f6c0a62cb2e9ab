"""Building test messages as a member's mail client would send them."""

from __future__ import annotations


from email.message import EmailMessage


def make_mail(subject: str = "Obstacle : reconnaissance des diplômes", *,
              body: str = "Bonjour,\n\nNous rencontrons un obstacle.\n",
              message_id: str | None = "obstacle-1@mairie.example.org",
              sender: str = "Alice Martin <alice@example.org>", to: str = "forum@example.org",
              in_reply_to: str | None = None, references: list[str] | None = None,
              date: str | None = "Mon, 23 Nov 2026 10:00:00 +0100", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if date:
        msg["Date"] = date
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()



