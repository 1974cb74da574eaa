"""python -m jobtui: the same as the jobtui command."""

import sys

from jobtui.cli import main

sys.exit(main())
