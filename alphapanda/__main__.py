"""``alphapanda`` / ``python -m alphapanda``: the Faust command line of the app, with our commands."""

from __future__ import annotations

import sys


def main() -> None:
    from alphapanda.wiring import app

    app.main()


if __name__ == "__main__":
    sys.exit(main())
