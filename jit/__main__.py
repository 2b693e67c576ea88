"""`python -m jit`: the `bpfjit` command without the installed entry point."""
import sys

from jit.cli import main

sys.exit(main())
