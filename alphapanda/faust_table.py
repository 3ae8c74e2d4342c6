"""Faust's table, patient with a changelog topic that was created a moment ago."""

from __future__ import annotations

import faust

__all__ = ["Table"]


class Table(faust.Table):
    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        # Right after a worker creates a changelog on a fresh Kafka cluster, the metadata can
        # list the topic with no partitions yet (its leaders are still being elected). Faust took
        # that for a partition-count mismatch and crashed every agent that reads the table. Zero
        # means "not known yet": the check runs again with the next event.
        if source_topic in self._verified_source_topics_for_partitions:
            return  # checked already (Faust's own first step, kept cheap on every write)
        if self.app.consumer.topic_partitions(self.changelog_topic_name) == 0:
            return
        super()._verify_source_topic_partitions(source_topic)
