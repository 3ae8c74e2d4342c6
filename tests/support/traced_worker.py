"""``python -m tests.support.traced_worker worker ...``: the real worker (``alphapanda worker``),
its spans exported to the OpenTelemetry SDK's in-memory exporter and written, as one JSON list,
to ``$TRACE_DUMP`` every 0.2 s, so that a test reads them while the worker runs."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alphapanda import tracing

exporter = InMemorySpanExporter()
tracing.use_exporter(exporter)


def span_row(span) -> dict:
    context, parent = span.get_span_context(), span.parent
    return {
        "name": span.name, "kind": span.kind.name, "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}", "parent_id": f"{parent.span_id:016x}" if parent else None,
        "attributes": dict(span.attributes), "status": span.status.status_code.name,
        "start": span.start_time, "end": span.end_time,
        "service": span.resource.attributes.get("service.name"),
    }


def dump_forever(path: Path) -> None:
    while True:
        rows = [span_row(span) for span in exporter.get_finished_spans()]
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(rows))
        scratch.replace(path)
        time.sleep(0.2)


threading.Thread(target=dump_forever, args=(Path(os.environ["TRACE_DUMP"]),), daemon=True).start()

from alphapanda.__main__ import main  # noqa: E402  (after the exporter is in place)

main()
