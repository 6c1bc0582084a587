"""``appliance --version`` prints the installed package's version."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys


def test_version_prints_the_package_version():
    """--version prints "appliance VERSION" (VERSION from the package metadata) and exits 0 without a command."""
    proc = subprocess.run([sys.executable, "-m", "appliance", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"appliance {importlib.metadata.version('appliance')}"
