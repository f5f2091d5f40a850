"""The `shared` marker: every test reading ../shared carries it (so `make test-fast`, which
deselects it, never needs the real files), and shared_path refuses unmarked callers."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

from . import conftest
from .conftest import _reaching, shared_path


def test_shared_path_fails_in_a_test_without_the_marker():
    # through the module attribute, a route collection does not see (so no marker is added)
    with pytest.raises(pytest.fail.Exception, match="no `shared` marker"):
        conftest.shared_path("cohorts")


@pytest.mark.shared
def test_shared_path_skips_a_marked_test_when_the_file_is_absent():
    with pytest.raises(pytest.skip.Exception, match="real public data not available"):
        shared_path("no-such-folder-anywhere")


def test_helpers_and_fixtures_reaching_shared_path_are_found(tmp_path):
    src = textwrap.dedent('''
        import pytest
        from tests.conftest import shared_path

        def _copy_real():
            return shared_path("cohorts")

        @pytest.fixture()
        def mirror():
            yield _copy_real()

        def test_via_fixture(mirror):
            pass

        def test_direct():
            shared_path("x")

        def test_synthetic(tmp_path):
            pass
    ''')
    path = tmp_path / "test_probe.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("test_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert _reaching(module) == {"_copy_real", "mirror", "test_direct"}


def test_fast_lane_collects_no_test_reading_shared(pytestconfig):
    """Collection marks them: `-m "not shared"` leaves none that reaches shared_path."""
    import subprocess
    import sys

    from .conftest import REPO

    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "shared",
                          "-p", "no:cacheprovider", "tests/test_real_tcga.py",
                          "tests/test_markers.py"], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    marked = {line.split("[")[0] for line in out.stdout.splitlines() if "::" in line}
    # a module-level marker and a decorator are both seen; an unmarked test is not marked
    assert "tests/test_real_tcga.py::test_cdr_survival_parses_to_377_patients_in_months" in marked
    assert "tests/test_markers.py::test_shared_path_skips_a_marked_test_when_the_file_is_absent" \
        in marked
    assert not any(m.startswith("tests/test_markers.py::test_fast") for m in marked)
