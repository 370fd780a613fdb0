"""`python -m buddycheck.checks.cli`: the `buddycheck` command."""

import sys

from . import main

sys.exit(main())
