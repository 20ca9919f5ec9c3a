"""``python -m export ...`` from the repository root hands over to ``python -m tracker.export ...``,
which works from any directory once the package is installed."""
import sys

from tracker.export.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
