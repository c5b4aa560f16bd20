import sys

from reference_impl.stack.cli import main

sys.exit(main())
