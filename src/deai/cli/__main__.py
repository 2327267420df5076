"""``python -m deai.cli``: the same as the ``deai`` command."""

import sys

from deai.cli.main import run

if __name__ == "__main__":
    sys.exit(run())
