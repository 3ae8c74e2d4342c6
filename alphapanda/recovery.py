"""Faust's table recovery, with the stream partitions resumed only after their queues are cleared.

When a rebalance's table recovery completes, Faust 0.15.3 resumes the stream partitions, seeks
them to their committed offsets, and only then resumes flow control, which clears every stream
queue. Its fetcher runs all along (the flow was resumed to read the changelogs), so records it
fetches during the seek are handed to the streams and then cleared, and the consumer's position
is already past them: nothing ever hands them over again. A worker that took a killed worker's
partitions over fetched its ten signals and handled none (faust-streaming issue #596 is the same
race). Here the seek and the clearing come first, while the stream partitions are still paused,
so every record handed to a stream is fetched after its queue was cleared.

``faust_settings`` makes the app's table manager :class:`TableManager`, which recovers with
:class:`Recovery`.
"""

from __future__ import annotations

import asyncio

from faust.tables import manager as faust_manager
from faust.tables import recovery as faust_recovery

__all__ = ["Recovery", "TableManager"]


class Recovery(faust_recovery.Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        # Faust 0.15.3's Recovery.on_recovery_completed with the stream partitions resumed last
        # (marked).
        consumer = self.app.consumer
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(self.actives_for_table[table], self.standbys_for_table[table])
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning(
                "Recovery rebalancing again app id %r param %r", self.app.consumer_generation_id, generation_id
            )
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
            # added: a whole rebalance can happen during the seek; resuming this generation's
            # partitions then would start the streams in the middle of the next recovery.
            if self.app.consumer_generation_id != generation_id:
                self.log.warning("Recovery rebalancing again after the seek: generation %r, was %r",
                                 self.app.consumer_generation_id, generation_id)
                return
        self.completed.set()
        self.app.flow_control.resume()  # clears the stream queues
        # moved here from before the seek: nothing is fetched for them until the queues are clear
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        consumer.resume_flow()
        await self.app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")


class TableManager(faust_manager.TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
