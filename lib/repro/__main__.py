import sys

from repro.core.cli import main

sys.exit(main())
