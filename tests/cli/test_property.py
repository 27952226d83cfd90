"""Property test: for every registered method and each of its parameters, a generated bad value given with
`--set` is refused before anything is written: exit status 2, exactly one line on stderr, no run folder.

"Bad" is derived from the parameter's annotation and default: a value of the wrong type (a string for a
number, a number for a string, a float for an integer, ...), a negative number (numbers are >= 0 unless
the class lists the parameter in `signed_params`), a non-positive learning rate or batch size, a layer-size
tuple with a zero, None where None is not allowed, and n_clusters outside [2, n_samples]. Enumerated string
values are method-specific: those are covered by test_cli_validation.py's cases.
"""
import dataclasses
import typing

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepclust.cli import RESERVED, main
from deepclust.methods import registry

N_SAMPLES = 40
METHODS = sorted(registry())


def _kinds(cls, name):
    hint = typing.get_type_hints(cls)[name]
    args = typing.get_args(hint) or (hint,)
    return {a.__name__ for a in args if a is not type(None)}, type(None) in args


def bad_values(cls, name) -> st.SearchStrategy:
    """Python-literal strings that are invalid for parameter `name` of `cls`."""
    if name == "n_clusters":
        return st.sampled_from(["0", "1", "-3", "'abc'", "2.5", "None", str(N_SAMPLES + 1), "10**6"])
    kinds, optional = _kinds(cls, name)
    default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
    out = [st.sampled_from(["[1, 2]", "{'a': 1}"] if "tuple" not in kinds and "dict" not in kinds else ["'abc'"])]
    if not optional:
        out.append(st.just("None"))
    if kinds & {"int", "float"}:
        out.append(st.sampled_from(["'abc'", "'1e-3'"]))
        if name not in cls.signed_params:
            out.append(st.integers(max_value=-1).map(str))
            if "float" in kinds:
                out.append(st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False).map(repr))
        if name == "lr" or name.endswith("_lr") or ("batch" in name and "int" in kinds):
            out.append(st.just("0"))
    if kinds == {"int"}:
        out.append(st.floats(0.1, 1e6).filter(lambda v: v != int(v)).map(repr))
    if kinds == {"bool"}:
        out.append(st.sampled_from(["2", "'yes'", "0.5"]))
    if kinds == {"str"}:
        out.append(st.integers(-5, 5).map(str))
    if "tuple" in kinds:
        out.append(st.sampled_from(["'abc'", "7"]))
        if isinstance(default, tuple) and default and all(isinstance(v, int) for v in default):
            out.append(st.sampled_from(["(0,)", "(16, -1)", "(8, 2.5)"]))
    if "dict" in kinds:
        out.append(st.sampled_from(["5", "'abc'"]))
    return st.one_of(out)


def params(cls):
    return [f.name for f in dataclasses.fields(cls) if f.name not in RESERVED]


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    p = tmp_path_factory.mktemp("prop") / "x.npy"
    rng = np.random.default_rng(0)
    np.save(p, rng.random((N_SAMPLES, 1, 8, 8), dtype=np.float32))  # images fit every method, conv ones too
    return p


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(st.data())
def test_generated_bad_values_are_refused_in_one_line(npy, tmp_path_factory, data):
    method = data.draw(st.sampled_from(METHODS), label="method")
    cls = registry()[method]
    name = data.draw(st.sampled_from(params(cls)), label="parameter")
    value = data.draw(bad_values(cls, name), label="value")
    out = tmp_path_factory.mktemp("out") / "runs"
    sets = [] if name == "n_clusters" else ["--set", "n_clusters=3"]
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        preset = "smoke" if "smoke" in cls.presets else "paper"
        rc = main(["fit", "-m", method, "-d", str(npy), "--preset", preset, *sets, "--set", f"{name}={value}",
                   "--out", str(out), "-q", "--no-plots"])
    lines = err.getvalue().strip().splitlines()
    assert rc == 2, (method, name, value, lines)
    assert len(lines) == 1 and lines[0].startswith("deepclust: error: "), lines
    assert name in lines[0] or (name == "n_clusters" and "samples" in lines[0]), lines  # says what is wrong
    assert not out.exists()


def test_every_method_and_parameter_has_a_bad_value():
    for cls in registry().values():
        for name in params(cls):
            assert isinstance(bad_values(cls, name), st.SearchStrategy)
