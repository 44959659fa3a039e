"""The pytest kit a third party installs: it fails loudly, with install advice, without pytest-asyncio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USES_FIXTURE = """
async def test_uses_the_box(receiver_factory):
    async with receiver_factory() as rx:
        assert rx.name
"""

# pytest-asyncio made unimportable, the way it is in a venv where it was never installed
RUNNER = """
import sys
sys.modules["pytest_asyncio"] = None
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "receiver_core.testing", sys.argv[1]]))
"""


def test_fixtures_without_pytest_asyncio_fail_with_the_install_advice(tmp_path: Path) -> None:
    test_file = tmp_path / "test_third_party.py"
    test_file.write_text(USES_FIXTURE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # only the kit, named explicitly
    done = subprocess.run([sys.executable, "-c", RUNNER, str(test_file)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env=env)
    assert done.returncode != 0
    assert "receiver_core.testing needs pytest-asyncio" in done.stdout
    assert "pip install 'montage-receiver[testing]'" in done.stdout
