import sys

from mail2fax.cli import main

sys.exit(main())
