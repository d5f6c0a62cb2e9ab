"""The forum's own addresses: what the gateway accepts at RCPT time, and nothing else."""

from __future__ import annotations

import pytest

from mailgateway.addresses import Kind, classify, topic_address
from storage.config import config_from_mapping

CONFIG = config_from_mapping({"forum": {"address": "Obstacles@Region.example.eu"}})
SECRET = "s3cret"


@pytest.mark.parametrize("address, kind", [
    ("obstacles@region.example.eu", Kind.POST),
    ("<OBSTACLES@REGION.EXAMPLE.EU>", Kind.POST),
    ("obstacles-request@region.example.eu", Kind.REQUEST),
    ("obstacles-bounces@region.example.eu", Kind.BOUNCES),
    ("obstacles-bounces+anything.at.all@region.example.eu", Kind.BOUNCES),
])
def test_the_forum_addresses_are_recognised(address: str, kind: Kind):
    recipient = classify(CONFIG, SECRET, address)
    assert recipient is not None and recipient.kind is kind


@pytest.mark.parametrize("address", [
    "obstacles@other.example.eu", "postmaster@region.example.eu", "obstacles-admin@region.example.eu",
    "obstacles+t1.aaaaaaaaaa@region.example.eu", "obstacles-request+x@region.example.eu", "no-at-sign",
    "obstacles@region.example.eu.evil.example",
])
def test_anything_else_is_not_ours(address: str):
    assert classify(CONFIG, SECRET, address) is None


def test_a_topic_address_names_its_topic_and_cannot_be_forged():
    address = topic_address(CONFIG, SECRET, 42)
    recipient = classify(CONFIG, SECRET, address)
    assert recipient is not None and recipient.topic_id == 42
    assert classify(CONFIG, "another secret", address) is None
    assert classify(CONFIG, SECRET, address.replace("+t42.", "+t43.")) is None
