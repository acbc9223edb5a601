"""lkdoctor's doctor as a plugin of LensKit's own ``lenskit`` command.

LensKit (2025.x and 2026.x alike) builds its CLI group by loading every entry point of the group
``lenskit.cli.plugins`` and adding the command each one names; its own doctor is one
of them (``lenskit-doctor = lenskit.cli.doctor:doctor``). Two commands named
``doctor`` means the one added last wins, and entry-point order follows the file
system, so this module makes the outcome the same in both orders:

- loaded after LensKit's doctor: the command returned here replaces it;
- loaded before: LensKit's doctor module is pointed at this command, so loading
  LensKit's entry point afterwards yields this command again.
"""

from __future__ import annotations

import contextlib
import importlib

from lkdoctor.cli import doctor

__all__ = ["doctor"]


def _take_over_lenskit_doctor() -> None:
    with contextlib.suppress(Exception):  # no LensKit, or one without a doctor: nothing to do
        module = importlib.import_module("lenskit.cli.doctor")
        vars(module)["doctor"] = doctor


_take_over_lenskit_doctor()
