"""`alphapanda dlq-replay` against the real broker: letters go back verbatim, with their keys."""

import json
import os
import subprocess
import sys

from alphapanda.models.wire import encode_event
from alphapanda.reliability import dead_letter_for


def letter(value: bytes, offset: int, key: bytes = b"paper") -> bytes:
    return encode_event(dead_letter_for(
        topic="paper.signals.raw", partition=3, offset=offset, key=key, value=value,
        error_type="DecodeError", error="not valid JSON", service="risk_manager", attempts=1, broker="paper"))


def dlq_replay(cluster, tmp_path, *args):
    env = {**os.environ, "KAFKA_URL": cluster.kafka_url, "DATA_DIR": str(tmp_path / "cli"), "ACTIVE_BROKERS": "paper"}
    return subprocess.run([sys.executable, "-m", "alphapanda", "dlq-replay", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_dead_letters_go_back_to_their_topic_with_their_keys(cluster, tmp_path):
    binary = b"\xff\xfe not utf-8"
    cluster.produce("paper.signals.raw.dlq", [(b"paper", letter(b'{"id": "broken"', 10)),
                                              (b"zerodha-key", letter(binary, 11, key=b"zerodha-key"))])

    dry = dlq_replay(cluster, tmp_path, "--dlq", "paper.signals.raw.dlq", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert "would replay 2 (2 to paper.signals.raw)" in dry.stdout
    assert json.loads(dry.stdout.strip().splitlines()[-1])["replayed"] == 2
    assert cluster.consume("paper.signals.raw", expect=0, timeout=1) == []

    limited = dlq_replay(cluster, tmp_path, "--dlq", "paper.signals.raw.dlq", "--limit", "1")
    assert limited.returncode == 0 and "replayed 1 (1 to paper.signals.raw)" in limited.stdout
    done = dlq_replay(cluster, tmp_path, "--dlq", "paper.signals.raw.dlq", "--json")
    assert json.loads(done.stdout.strip().splitlines()[-1])["replayed"] == 2

    replayed = cluster.consume("paper.signals.raw", expect=3, timeout=10)
    assert sorted((m["key"], m["value"]) for m in replayed) == sorted([
        ("paper", b'{"id": "broken"'), ("paper", b'{"id": "broken"'), ("zerodha-key", binary)])


def test_a_topic_that_is_not_a_dlq_is_refused(cluster, tmp_path):
    result = dlq_replay(cluster, tmp_path, "--dlq", "paper.signals.raw")
    assert result.returncode != 0 and "not a dead-letter topic" in result.stderr
