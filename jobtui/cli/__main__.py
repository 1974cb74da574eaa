"""python -m jobtui.cli: the same as the jobtui command."""

import sys

from jobtui.cli import main

sys.exit(main())
