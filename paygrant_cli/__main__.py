"""`python -m paygrant_cli`, the same as the `paygrant` console script."""

from __future__ import annotations

import sys

from paygrant_cli.main import main

sys.exit(main())
