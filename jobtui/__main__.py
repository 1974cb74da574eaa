"""python -m jobtui: the same as the jobtui command."""

import sys

from jobtui.entry import main

sys.exit(main())
