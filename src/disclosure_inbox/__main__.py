import sys

from disclosure_inbox.cli import main

# The guard matters: parse workers are started with ``spawn``, which imports this module
# again in each worker (as ``__mp_main__``); it must not run the command there.
if __name__ == "__main__":
    sys.exit(main())
