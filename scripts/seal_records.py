"""Add ``content_sha256`` to committed records written before records carried it (a one-off, for
records that cannot be recomputed here, such as GPU runs); a record that has one is left alone.

    python scripts/seal_records.py results/gpu
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pihlib._io import atomic_write_bytes
from pihlib.reproduction.cache import content_digest

for folder in sys.argv[1:]:
    for path in sorted(Path(folder).rglob("*.json")):
        record = json.loads(path.read_text())
        if "content_sha256" in record.get("provenance", {}):
            continue
        record["provenance"]["content_sha256"] = content_digest(record)
        atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
        print(f"sealed {path}")
