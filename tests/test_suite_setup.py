"""The test suite's own machinery works as docs/design.md says ("Each end-to-end
property is proven once")."""
import pytest

pytestmark = pytest.mark.xdist_group("suite_setup")


def test_xdist_groups_reach_the_scheduler(request):
    """Under ``make test`` (pytest-xdist, --dist=loadgroup) a grouped test's id
    carries its group, which is how the scheduler keeps a group (and its module
    fixtures) on one worker. pytest 9 with pytest-xdist 3.8 silently lost this
    (setup.py pins pytest < 9)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not running under pytest-xdist with --dist=loadgroup")
    assert request.node.nodeid.endswith("@suite_setup"), request.node.nodeid
