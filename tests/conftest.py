"""Shared pytest setup: make the repo importable, keep torch to one thread (faster for tiny models), and,
where ``GS_FORBID_SKIPS=1`` (CI, which installs every extra), fail the session if any test was skipped."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("GS_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reasons = sorted({str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
                          for report in skipped})
        print(f"\nGS_FORBID_SKIPS=1: {len(skipped)} test(s) skipped, which CI does not allow: {'; '.join(reasons)}")
        session.exitstatus = 1
