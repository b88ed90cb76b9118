"""`python -m gateway` is `switchboard`."""

import sys

from .cli import main

sys.exit(main())
