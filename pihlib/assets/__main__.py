"""``python -m pihlib.assets fetch``: fetch, check and convert every pretrained asset into the cache."""

from __future__ import annotations

import sys

from ..errors import PihError
from . import fetch_all


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["fetch"]:
        print("usage: python -m pihlib.assets fetch", file=sys.stderr)
        return 2
    try:
        fetch_all()
    except PihError as e:
        print(f"pihlib.assets: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
