"""Run lkdoctor with the toy line registered, as its one entry in `LINES` would.

``python registered.py ARGS…`` runs ``lenskit doctor ARGS…``; ``python registered.py
--read-back`` reads a JSON report on stdin into the report model and prints it again.
The line is added before anything builds the report model, as the registry line in
``lkdoctor/plan/lines.py`` is read before it at import.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the toy line

from lkdoctor.plan import lines
from toy_lenskit2099 import LENSKIT_2099

lines.LINES = (*lines.LINES, LENSKIT_2099)

if sys.argv[1:] == ["--read-back"]:
    from lkdoctor.report import Report

    print(Report.model_validate_json(sys.stdin.read()).model_dump_json())
else:
    from lkdoctor.cli import doctor

    doctor()
