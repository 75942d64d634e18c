"""The Schemathesis contract checks (tests/contract/check_operations.py), in a pytest process of their own.

Schemathesis keeps state about the schemas it has turned into data generators; in a process that has
already run the rest of this suite it sometimes declares one of our request schemas unsupported, while
the same checks pass in a fresh process. A process of their own makes the run reproducible.
"""
import re
import subprocess
import sys
from pathlib import Path

CHECKS = Path(__file__).parent / "contract" / "check_operations.py"


def test_every_operation_of_both_apis_keeps_its_contract():
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
                             "-o", "python_files=check_*.py", str(CHECKS)], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert re.search(r"^38 passed", result.stdout.splitlines()[-1]), result.stdout[-2000:]
