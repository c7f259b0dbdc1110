"""pytest fixtures shared by every integration test.

    build_dir   the build tree (env POSTEL_BUILD_DIR, default <repo>/build);
                the session fails at once, saying what to do, when the tools
                and the master are not built there
    instance    an Instance (instance.py) in the test's tmp_path, stopped at
                teardown whatever happened; when the test fails, the report
                shows the instance's log

Every Instance a test makes (also without the fixture) is stopped at the end
of that test, and its log is attached to the report of a failed test.
"""

import os

import pytest

from instance import SOURCE_DIR, Instance

REQUIRED = ("tools/postel", "master/master")


@pytest.fixture(scope="session")
def build_dir():
    """The build tree whose programs the tests run."""
    path = os.path.abspath(os.environ.get("POSTEL_BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
    missing = [p for p in REQUIRED if not os.access(os.path.join(path, p), os.X_OK)]
    if missing:
        pytest.fail("build tree %s lacks %s: build it first (mkdir build && cd build && "
                    "../configure && make), or point POSTEL_BUILD_DIR at a build tree"
                    % (path, ", ".join(missing)), pytrace=False)
    return path


@pytest.fixture
def instance(tmp_path, build_dir):
    """A fresh instance in tmp_path; stopped at teardown."""
    inst = Instance(tmp_path / "inst", build_dir)
    yield inst
    inst.stop()


@pytest.fixture(autouse=True)
def _stop_instances():
    """Stop every Instance the test made, even ones made without the fixture."""
    first = len(Instance.created)
    yield
    for inst in Instance.created[first:]:
        inst.stop()
    del Instance.created[first:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the log of each instance of a failed test to its report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        for inst in Instance.created:
            rep.sections.append(("instance %s" % inst.dir, inst.log_tail(lines=80)))
