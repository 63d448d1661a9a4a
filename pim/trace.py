"""Chrome trace-event JSON of a simulated timeline (opens in Perfetto / chrome://tracing):
one track (thread) per resource, one complete event ("ph": "X") per hold, times in µs."""

from __future__ import annotations

import json
from pathlib import Path


def chrome_trace(timeline: list[tuple[str, str, float, float]], process_name: str = "recpim") -> dict:
    tracks = sorted({track for track, _, _, _ in timeline})
    track_id = {track: index + 1 for index, track in enumerate(tracks)}
    events: list[dict] = [{"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": process_name}}]
    events += [{"ph": "M", "pid": 1, "tid": tid, "name": "thread_name", "args": {"name": track}}
               for track, tid in track_id.items()]
    events += [
        {"ph": "X", "pid": 1, "tid": track_id[track], "name": label,
         "ts": start_ns / 1000.0, "dur": duration_ns / 1000.0}
        for track, label, start_ns, duration_ns in timeline
    ]
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def write_chrome_trace(timeline: list[tuple[str, str, float, float]], path: str | Path, process_name: str = "recpim"):
    Path(path).write_text(json.dumps(chrome_trace(timeline, process_name)))
    return Path(path)
