"""`python -m sis_simulators oneroster|powerschool --students 1000 --port 0`"""

import sys

from sis_simulators.server import main

if __name__ == "__main__":
    sys.exit(main())
