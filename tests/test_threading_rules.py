"""The rules of storage/threads.py that are pure functions: subject normalisation."""

from __future__ import annotations

import pytest

from storage.threads import base_subject, is_reply_subject


@pytest.mark.parametrize("subject", [
    "Re: Obstacle : diplômes", "RE : Obstacle : diplômes", "AW: Obstacle : diplômes",
    "Réf. : Obstacle : diplômes", "TR: Obstacle : diplômes", "Fwd: Re: Obstacle : diplômes",
    "[Forum] Re: Obstacle : diplômes", "Re[2]: Obstacle : diplômes", "SV: Obstacle : diplômes",
    "  re:   OBSTACLE : DIPLOMES ",
])
def test_reply_and_forward_prefixes_and_tags_do_not_change_the_base_subject(subject: str):
    assert base_subject(subject) == "obstacle : diplomes"


@pytest.mark.parametrize("subject, reply", [
    ("Re: x", True), ("RE : x", True), ("AW: x", True), ("Réf. : x", True), ("[Forum] Re: x", True),
    ("x", False), ("Fwd: x", False), ("Report: x", False), ("Récapitulatif", False),
])
def test_what_counts_as_a_reply_subject(subject: str, reply: bool):
    assert is_reply_subject(subject) is reply
