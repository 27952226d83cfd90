"""Mixed precision: the `precision` parameter of every neural method (engine/device.py)."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from deepclust.engine.assignment import student_t
from deepclust.engine.device import autocast, native_bf16
from deepclust.errors import InvalidInputError
from deepclust.methods import get
from deepclust.metrics import acc

CPU = torch.device("cpu")


def test_modes_on_cpu():
    x = torch.randn(8, 16)
    w = torch.randn(16, 4)
    with autocast(CPU, precision="fp32"):
        assert (x @ w).dtype == torch.float32
    with autocast(CPU, precision="auto"):  # auto: bf16 only on GPUs
        assert (x @ w).dtype == torch.float32
    with autocast(CPU, precision="bf16"):
        assert (x @ w).dtype == torch.bfloat16
    with autocast(CPU, enabled=False, precision="bf16"):  # deterministic runs keep an explicit bf16
        assert (x @ w).dtype == torch.bfloat16
    with autocast(CPU, precision="bf16-native"):
        assert (x @ w).dtype == (torch.bfloat16 if native_bf16(CPU) else torch.float32)
    with pytest.raises(InvalidInputError, match="precision must be one of"):
        autocast(CPU, precision="fp16")


def test_soft_assignment_stays_fp32_under_autocast():
    z, c = torch.randn(50, 10), torch.randn(4, 10)
    ref = student_t(z, c)
    with autocast(CPU, precision="bf16"):
        q = student_t(z, c)
    assert q.dtype == torch.float32
    torch.testing.assert_close(q, ref)  # bf16 distances would differ by ~1e-2


def test_bad_precision_fails_before_training():
    X = np.random.default_rng(0).random((40, 8), dtype=np.float32)
    with pytest.raises(InvalidInputError, match="precision"):
        get("dec")(n_clusters=2, precision="half", verbose=0, **get("dec").presets["smoke"]).fit(X)


def test_bf16_training_clusters_digits_and_keeps_fp32_weights():
    d = load_digits()
    X, y = (d.data / 16.0).astype(np.float32), d.target
    cls = get("dec")
    est = cls(n_clusters=10, random_state=0, verbose=0, precision="bf16",
              **(cls.presets["smoke"] | {"pretrain_epochs": 15}))
    labels = est.fit_predict(X)
    assert acc(y, labels) > 0.5  # chance is ~0.1-0.2
    assert all(p.dtype == torch.float32 for p in est.autoencoder_.parameters())
    assert est.transform(X).dtype == np.float32


def test_fit_flushes_denormals_on_cpu_and_restores_the_default():
    """Inside fit, subnormal floats are flushed to zero (Adam moments of dead ReLU units otherwise decay
    into them and slow CPU training, benchmarks/results/throughput/denormals-dec-usps.json); after
    fit, and with flush_denormals=False, they are kept."""
    import numpy as np

    from deepclust.engine.device import flush_denormals
    from deepclust.methods import AEKMeans

    tiny = lambda: float(torch.tensor([1e-39]) * 1.0)  # noqa: E731  (1e-39 is subnormal in fp32)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    torch.set_flush_denormal(False)
    seen = {}

    class Probe(AEKMeans):
        def _fit(self, X, y):
            seen[self.flush_denormals] = tiny()
            return super()._fit(X, y)

    X = np.random.default_rng(0).random((60, 8)).astype(np.float32)
    for flag in (True, False):
        Probe(n_clusters=2, pretrain_epochs=1, verbose=0, flush_denormals=flag).fit(X)
    assert seen[True] == 0.0 and seen[False] > 0.0
    assert tiny() > 0.0                                    # torch's default is back after fit
    with flush_denormals():
        assert tiny() == 0.0
    assert tiny() > 0.0
