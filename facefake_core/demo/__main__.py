"""``python -m facefake_core.demo DIR SCALE``: build the demo in this process (the child of
:func:`~facefake_core.demo.build.build_demo_isolated`), reporting progress as ``done<TAB>total<TAB>what`` lines."""

import sys

from .build import _main

sys.exit(_main(sys.argv[1:]))
