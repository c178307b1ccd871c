"""``python -m squid_core`` is the ``squid`` command line."""

import sys

from squid_core.cli import main

sys.exit(main())
