"""The runner's environment and the runtime specifications: pure rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules import specifications
from scheduler.rules.errors import InvalidInput
from tasks.runner.env import PASSED, runner_env, runtime_name_version

SPEC = specifications.get(specifications.DEFAULT)


def env(worker, passed=(), variables=None):
    return runner_env(worker, passed, variables or {}, project_id="p", function_id="f",
                      function_name="F", runtime="python-3.11", spec=SPEC,
                      api_endpoint="http://x/v1", import_path=["/a", "", "/b"], home="/h")


names = st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90) | st.just("_"),
                min_size=1, max_size=12)


@given(st.dictionaries(names, st.text(max_size=5), max_size=20), st.lists(names, max_size=5))
def test_only_the_allow_list_and_passed_names_cross_and_never_tocsin(worker, passed):
    out = env(worker, passed)
    from_worker = {k for k in out if k in worker and out[k] == worker[k]}
    builtin = {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "HOME"}
    for name in from_worker - builtin:
        assert not name.startswith("APPWRITE_FUNCTION_")
        assert name in PASSED or (name in passed and not name.startswith("TOCSIN_"))
    assert not [k for k in out if k.startswith("TOCSIN_")]


def test_variables_cannot_override_appwrite_values():
    out = env({}, variables={"APPWRITE_FUNCTION_ID": "evil", "GREETING": "hi"})
    assert out["APPWRITE_FUNCTION_ID"] == "f" and out["GREETING"] == "hi"
    assert out["PYTHONPATH"] == "/a:/b" and out["HOME"] == "/h"
    assert (out["APPWRITE_FUNCTION_RUNTIME_NAME"], out["APPWRITE_FUNCTION_RUNTIME_VERSION"],
            out["APPWRITE_FUNCTION_MEMORY"], out["APPWRITE_FUNCTION_CPUS"]) == (
        "Python", "3.11", "512", "1")


@pytest.mark.parametrize(("runtime", "expected"), [
    ("python-3.12", ("Python", "3.12")), ("python-ml-3.11", ("Python (ML)", "3.11")),
    ("python-3.9", ("Python", "3.9")),
])
def test_runtime_name_and_version(runtime, expected):
    assert runtime_name_version(runtime) == expected


def test_specifications_are_appwrites():
    assert [s.slug for s in specifications.SPECS][:4] == [
        "s-0.5vcpu-512mb", "s-1vcpu-512mb", "s-1vcpu-1gb", "s-2vcpu-2gb"]
    assert specifications.get("s-2vcpu-4gb").memory == 4096
    assert specifications.get("s-0.5vcpu-512mb").cores == 1
    assert specifications.choose("s-2vcpu-2gb", 2).cpus == 2
    with pytest.raises(InvalidInput, match=re.escape("one of: s-0.5vcpu-512mb, s-1vcpu-512mb")):
        specifications.choose("s-4vcpu-4gb", 2)
    with pytest.raises(InvalidInput):
        specifications.choose("huge", 64)


@given(st.sets(st.integers(0, 63), min_size=1, max_size=16), st.integers(1, 8),
       st.integers(0, 10_000))
def test_a_runner_gets_its_cores_from_what_the_worker_has(available, cores, turn):
    chosen = specifications.cores_for(list(available), cores, turn)
    assert len(chosen) == min(cores, len(available)) == len(set(chosen))
    assert set(chosen) <= available


def test_runners_in_turn_spread_over_the_cores_instead_of_sharing_the_first():
    # Two workers' runners (turns from consecutive process ids) on a 2-core host.
    assert specifications.cores_for([0, 1], 1, 4000) == [0]
    assert specifications.cores_for([0, 1], 1, 4001) == [1]
    assert {specifications.cores_for([2, 5, 7], 1, t)[0] for t in range(3)} == {2, 5, 7}
    assert specifications.cores_for([0, 1, 2, 3], 2, 3) == [0, 3]
    assert specifications.cores_for([], 1, 0) == []
