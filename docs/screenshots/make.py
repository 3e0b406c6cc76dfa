"""Take the README's screenshots of the service's own pages: runs the browser
tests (tests/test_pages_browser.py) with PAGES_SCREENSHOTS set to this folder.

    .venv/bin/python docs/screenshots/make.py
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

if __name__ == "__main__":
    env = {**os.environ, "PAGES_SCREENSHOTS": str(HERE)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command.append("tests/test_pages_browser.py")
    sys.exit(subprocess.call(command, cwd=ROOT, env=env))  # noqa: S603 (our own interpreter)
