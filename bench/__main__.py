"""`python -m bench`: the benchmark harness (bench/cli.py)."""

import sys

from .cli import main

sys.exit(main())
