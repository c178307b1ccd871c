"""Start SQUID Viewer: ``python main.py [PATH...]`` (see ``--help``)."""

import sys

from viewer.app import main

if __name__ == "__main__":
    sys.exit(main())
