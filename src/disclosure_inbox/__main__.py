import sys

from disclosure_inbox.cli import main

sys.exit(main())
