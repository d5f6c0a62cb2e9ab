"""The settings of personal data: how long what is kept ([retention]) and what the privacy
page says ([privacy]). Declared here, loaded and checked by storage.config with the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RetentionConfig:
    held_days: int = 90
    command_mail_days: int = 30
    bounce_days: int = 90
    sign_in_days: int = 30
    rate_limit_days: int = 2
    ip_address_days: int = 1
    sent_mail_days: int = 30


@dataclass(frozen=True)
class PrivacyConfig:
    controller: str = ""
    contact: str = ""
    purposes_fr: str = ("Faire fonctionner le forum : publier et distribuer les messages des membres, "
                        "les archiver et permettre d'y chercher, modérer, se connecter.")
    purposes_en: str = ("Running the forum: publishing and delivering members' messages, archiving "
                        "them and making them searchable, moderation, signing in.")
    legal_basis_fr: str = ("L'intérêt légitime du réseau à faire coopérer ses membres "
                           "(RGPD, article 6, paragraphe 1, point f).")
    legal_basis_en: str = "The network's legitimate interest in its members' cooperation (GDPR, article 6(1)(f))."
    erasure_policy: Literal["redact", "delete"] = "redact"
