"""`python -m mutants`: the kill matrix (see mutants/run.py)."""

from mutants.run import main

raise SystemExit(main())
