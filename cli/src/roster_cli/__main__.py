"""``python -m roster_cli`` is ``roster``."""

from __future__ import annotations

import sys

from roster_cli.main import main

if __name__ == "__main__":
    sys.exit(main())
