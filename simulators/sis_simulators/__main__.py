"""`python -m sis_pipeline.simulators oneroster|powerschool --students 1000 --port 0`"""

import sys

from sis_pipeline.simulators.server import main

if __name__ == "__main__":
    sys.exit(main())
