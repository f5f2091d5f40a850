"""The `shared` marker: every test reading ../shared carries it (so `make test-fast`, which
deselects it, never needs the real files), and shared_path refuses unmarked callers."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap

import pytest

from . import conftest
from .conftest import REPO, _reaching, shared_path


def test_shared_path_fails_in_a_test_without_the_marker():
    # through the module attribute, a route collection does not see (so no marker is added)
    with pytest.raises(pytest.fail.Exception, match="no `shared` marker"):
        conftest.shared_path("cohorts")


@pytest.mark.shared
def test_shared_path_skips_a_marked_test_when_the_file_is_absent():
    with pytest.raises(pytest.skip.Exception, match="real public data not available"):
        shared_path("no-such-folder-anywhere")


PROBE = textwrap.dedent('''
    import pytest
    from .conftest import shared_path

    def _copy_real():
        return shared_path("cohorts")

    @pytest.fixture()
    def mirror():
        yield _copy_real()

    def test_via_fixture(mirror):
        pass

    def test_direct():
        shared_path("x")

    @pytest.mark.shared
    def test_declared():
        pass

    def test_synthetic(tmp_path):
        pass
''')


def test_helpers_and_fixtures_reaching_shared_path_are_found(tmp_path):
    path = tmp_path / "test_probe.py"
    path.write_text(PROBE.replace("from .conftest", "from tests.conftest"))
    spec = importlib.util.spec_from_file_location("test_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert _reaching(module) == {"_copy_real", "mirror", "test_direct"}


def test_collection_marks_them_so_the_fast_lane_deselects_them(tmp_path):
    """The conftest hook runs before `-m` deselection: only the synthetic test is left."""
    (tmp_path / "tests").mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_probe.py").write_text(PROBE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n  shared: reads ../shared\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m",
                          "not shared", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    kept = [line for line in out.stdout.splitlines() if "::" in line]
    assert kept == ["tests/test_probe.py::test_synthetic"]
