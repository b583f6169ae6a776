"""The ``pih`` console script. It lies outside the ``pihlib`` package on purpose: importing pihlib
imports torch, which takes seconds, and Ctrl-C during that must be the one "interrupted" line with
exit 130, like Ctrl-C later (``pihlib._cli.run_command``); a handler inside the package would run only
after the package was imported."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from pihlib.cli import main as pih
    except KeyboardInterrupt:
        print("pih: interrupted; work already finished is kept", file=sys.stderr)
        return 130
    return pih()


if __name__ == "__main__":
    sys.exit(main())
