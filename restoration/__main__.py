import sys

from restoration.cli import main

sys.exit(main())
