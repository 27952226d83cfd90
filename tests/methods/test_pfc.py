"""PFC (spec 002): gradient penalty, eta schedule, classifier on generated data, a tiny 2-D run,
network families, save/load, resume, parameter errors, the synthetic datasets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepclust.datasets.synthetic import (USPS_VARIANT_COUNTS, artifact_mnist, eight_gaussians,
                                          uniformity_index, usps_variant)
from deepclust.errors import InvalidInputError
from deepclust.methods import get
from deepclust.methods.pfc import PFC, classifier_step, eta_schedule, gradient_penalty
from deepclust.metrics import acc
from deepclust.nn.pfc_nets import arch_for_shape, make_pfc_nets

torch.set_num_threads(1)

TOY = dict(n_clusters=8, z_dim=2, hidden=64, batch_size=64, lr=1e-3, gp_lambda=0.1, verbose=0)


@pytest.fixture(scope="module")
def usps_small():
    from deepclust.datasets import load_dataset
    return load_dataset("usps", subset=200)


def test_registered():
    assert get("pfc") is PFC


@pytest.mark.parametrize("units", [1, 10])
def test_gradient_penalty_equals_direct_computation(units):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(1, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 14 * 14, units))
    real, fake = torch.rand(5, 1, 16, 16), torch.rand(5, 1, 16, 16)
    eps = torch.rand(5, 1, 1, 1)
    gp = gradient_penalty(D, real, fake, eps)
    direct = []
    for i in range(5):  # one sample at a time: grad of sum over units of D at x^_i, L2 norm over all pixels
        xh = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        g, = torch.autograd.grad(D(xh).sum(), xh)
        direct.append((torch.sqrt((g ** 2).sum()) - 1) ** 2)
    torch.testing.assert_close(gp, torch.stack(direct).mean(), rtol=1e-5, atol=1e-7)
    gp.backward()  # differentiable w.r.t. the critic (create_graph=True)
    assert D[0].weight.grad is not None and D[0].weight.grad.abs().sum() > 0


def test_eta_schedule_matches_spec():
    est = PFC()  # paper: N = 900k, tau = N / 30 = 30,000, eta0 = 10, gamma = 1.2
    assert est._tau() == 30_000
    assert est.eta(0) == 10.0 and est.eta(29_999) == 10.0
    assert est.eta(30_000) == pytest.approx(12.0)
    assert est.eta(60_000) == pytest.approx(14.4)
    assert est.eta(899_999) == pytest.approx(10 * 1.2 ** 29)  # ~1,978 in the last segment (spec §3.5)
    assert est.eta(900_000) == pytest.approx(10 * 1.2 ** 30)
    assert eta_schedule(65_000, 10, 1.2, 30_000) == pytest.approx(10 * 1.2 ** 2)  # closed form, not compounded
    assert PFC(n_iter=3000).eta(100) == pytest.approx(12.0)  # tau scales with N
    assert PFC(eta_step=7).eta(14) == pytest.approx(14.4)
    assert est.steps_at(0) == (5, 4) and est.steps_at(899_999) == (5, 4)
    code = PFC(schedule="code")
    assert code.steps_at(299_999) == (5, 2) and code.steps_at(300_000) == (10, 4)
    assert code._critic_offset(300_001) == 300_000 * 5 + 10


def test_classifier_recovers_generator_ids_on_toy_problem():
    torch.manual_seed(0)
    k = 6
    centers = torch.randn(k, 2) * 3

    def G(z, onehot):  # a fixed "generator": id -> its own blob
        return onehot @ centers + 0.1 * z

    _, _, C = make_pfc_nets((2,), k, 2, hidden=64)
    opt = torch.optim.Adam(C.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(150):
        y = torch.randint(0, k, (64,))
        classifier_step(C, opt, G(torch.randn(64, 2), nn.functional.one_hot(y, k).float()), y)
    y = torch.randint(0, k, (2000,))
    pred = C(G(torch.randn(2000, 2), nn.functional.one_hot(y, k).float())).argmax(1)
    assert (pred == y).float().mean() > 0.97


def test_tiny_run_on_eight_gaussians_clusters_above_chance():
    ds = eight_gaussians(1024, seed=0)
    est = PFC(n_iter=200, log_every=20, eval_every=100, eval_size=500, **{**TOY, "hidden": 128}).fit(ds.X, ds.y)
    assert est.arch_ == "mlp" and est.n_iter_ == 200
    assert acc(ds.y, est.labels_) > 0.8  # chance (one or few clusters) is <= 0.2
    assert est.history_[-1]["fake_acc"] > 0.9  # C recovers G's ids on generated data
    assert [c["it"] for c in est.curve_] == [100, 200]
    test = eight_gaussians(500, seed=1)
    assert acc(test.y, est.predict(test.X)) > 0.8
    P = est.transform(test.X)
    assert P.shape == (500, 8) and np.allclose(P.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("shape,arch", [((1, 28, 28), "mnist28"), ((1, 16, 16), "usps16"), ((3, 32, 32), "32"),
                                        ((1, 64, 64), "64"), ((2,), "mlp")])
def test_network_families(shape, arch):
    assert arch_for_shape(shape) == arch
    G, D, C = make_pfc_nets(shape, 3, 5, dim=4, hidden=8)
    x = G(torch.randn(2, 5), torch.eye(3)[:2]).detach()
    assert x.shape == (2, *shape) and D(x).shape == (2, 1) and C(x).shape == (2, 3)
    if arch != "mlp":
        assert float(x.min()) >= 0 and float(x.max()) <= 1  # sigmoid output


def test_paper_parameter_counts():
    G, D, C = make_pfc_nets((1, 28, 28), 10, 128)
    assert [sum(p.numel() for p in n.parameters()) for n in (G, D, C)] == [1_595_137, 1_030_145, 1_067_018]


def test_save_load_and_samples(usps_small, tmp_path):
    est = PFC.from_preset("smoke", verbose=0, n_iter=4, sample_dir=str(tmp_path / "s"), sample_every=2)
    est.fit(usps_small.X, usps_small.y)
    assert est.arch_ == "usps16" and est.labels_.shape == (200,)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["samples-0000002.png", "samples-0000004.png"]
    assert est.save_samples(tmp_path / "grid.png").stat().st_size > 0
    est.save(tmp_path / "m.pt")
    back = PFC.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(back.predict(usps_small.X), est.predict(usps_small.X))
    np.testing.assert_array_equal(est.predict(usps_small.X), est.labels_)
    np.testing.assert_allclose(back.transform(usps_small.X), est.transform(usps_small.X))


def test_resume_gives_the_same_model(tmp_path, monkeypatch):
    ds = eight_gaussians(256, seed=2)
    kw = dict(TOY, n_iter=12, n_critic=2, n_class=2, hidden=16, batch_size=32, random_state=3)
    ref = PFC(**kw).fit(ds.X, ds.y)

    ck = str(tmp_path / "ck")
    original = PFC.eta

    def crash(self, t):
        if t == 8:
            raise KeyboardInterrupt("simulated kill")
        return original(self, t)

    monkeypatch.setattr(PFC, "eta", crash)
    with pytest.raises(KeyboardInterrupt):
        PFC(**kw, checkpoint_dir=ck, checkpoint_every=3).fit(ds.X, ds.y)  # last checkpoint after it 6
    monkeypatch.setattr(PFC, "eta", original)
    res = PFC(**kw, checkpoint_dir=ck, checkpoint_every=3, resume=True).fit(ds.X, ds.y)
    np.testing.assert_array_equal(res.labels_, ref.labels_)
    for a, b in zip(ref.classifier_.state_dict().values(), res.classifier_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("bad,msg", [({"schedule": "fast"}, "schedule"), ({"prior": (0.5, 0.5)}, "prior"),
                                     ({"n_critic": 0}, "n_critic"), ({"gp_lambda": -1.0}, "gp_lambda"),
                                     ({"sample_every": 5}, "sample_dir"), ({"arch": "usps16"}, "arch")])
def test_bad_parameters(bad, msg):
    X = np.random.default_rng(0).random((50, 784)).astype(np.float32)
    with pytest.raises(InvalidInputError, match=msg):
        PFC(n_clusters=3, n_iter=1, verbose=0, **bad).fit(X)


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        PFC(n_clusters=3, n_iter=1, verbose=0).fit(np.random.default_rng(0).normal(size=(20, 1, 16, 16)))
    with pytest.raises(InvalidInputError, match="28x28"):
        PFC(n_clusters=3, n_iter=1, verbose=0).fit(np.zeros((20, 1, 20, 20), np.float32))


def test_synthetic_datasets(usps_small):
    g = eight_gaussians(4000, seed=0)
    assert g.X.shape == (4000, 2) and g.n_classes == 8
    centers = np.array([g.X[g.y == c].mean(0) for c in range(8)])
    assert np.abs(np.linalg.norm(centers, axis=1) - 1.414).max() < 0.01
    assert 0.012 < g.X[g.y == 0].std(0).mean() < 0.016
    a = artifact_mnist(usps_small)  # any [0, 1] image set works as the base
    assert a.n_classes == 3 and set(np.unique(a.X.reshape(len(a.X), -1)[:, 0])) == {np.float32(v) for v in
                                                                                   (0.1, 0.5, 0.9)}
    np.testing.assert_allclose(a.X.reshape(200, -1)[:, 0], np.array([0.1, 0.5, 0.9], np.float32)[a.y])
    np.testing.assert_array_equal(a.X.reshape(200, -1)[:, 1:], usps_small.X.reshape(200, -1)[:, 1:])
    assert uniformity_index(np.repeat(np.arange(10), 7)) == pytest.approx(1.0)
    v1 = np.repeat(np.arange(10), USPS_VARIANT_COUNTS["usps-v1"])
    assert uniformity_index(v1) == pytest.approx(0.9851, abs=1e-4)
    with pytest.raises(InvalidInputError, match="fewer"):
        usps_variant("usps700", usps_small)


def test_conv_generator_uses_the_id_and_classifier_learns_it():
    """The conditional pipeline on images: the planted Artifact data of benchmarks/diagnostics/pfc_diagnose.py (blank 16x16
    images, only the top-left pixel varies). After a short fit G's samples differ by cluster id and C names
    the id of G's samples (what entropy minimisation needs); G moves from its sigmoid(0) ~ 0.5 start towards
    the near-black data. A generator ignoring the one-hot, or C trained on other labels, fails this."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = np.zeros((300, 1, 16, 16), np.float32)
    X[:, 0, 0, 0] = np.array([0.1, 0.5, 0.9], np.float32)[y]
    est = PFC.from_preset("smoke", n_clusters=3, n_iter=60, lr=1e-3, eta_step=10 ** 9, log_every=20,
                          verbose=0).fit(X, y)
    assert est.history_[-1]["fake_acc"] > 0.9  # chance = 1/3
    torch.manual_seed(0)
    yy = torch.arange(3).repeat_interleave(100)
    with torch.no_grad():
        xs = est.generator_(torch.randn(300, est.z_dim), nn.functional.one_hot(yy, 3).float())
        assert (est.classifier_(xs).argmax(1) == yy).float().mean() > 0.9
    means = torch.stack([xs[yy == j].mean(0) for j in range(3)])
    assert (means[0] - means[1]).abs().max() > 0.05 and (means[1] - means[2]).abs().max() > 0.05
    assert float(xs.mean()) < 0.25


def test_reduced_presets_keep_the_papers_absolute_eta_schedule():
    """Issue 15: tau = n_iter // 30 at small N compressed Eq. 8 (eta ~2,000 within 1,000 iterations); the
    reduced presets keep tau = 30,000 (eta = 10 for the paper's first 30k), the old schedule is named."""
    for name in ("cpu", "cpu-flat", "smoke"):
        est = PFC.from_preset(name)
        assert est._tau() == 30_000 and est.eta(est.n_iter - 1) == 10.0
    old = PFC.from_preset("cpu-compressed")
    assert old._tau() == 33 and old.eta(999) == pytest.approx(10 * 1.2 ** 30)
    assert PFC(n_iter=30_000)._tau() == 1_000  # paper class default: the ORL scaling (N 30k -> tau 1k)


def test_flat_rule_reads_only_the_unsupervised_monitors():
    est = PFC(eval_every=10, flat_window=20, flat_tol=0.05)  # m = 2 readings per window, stop after >= 6
    level = [{"wdist_mean": 2.0, "real_conf": 0.9, "acc": a} for a in (0.1, 0.9, 0.2, 0.8, 0.3, 0.7)]
    assert est._is_flat(level)  # ACC jumping around does not matter
    assert not est._is_flat(level[:5])  # too early: fewer than 3 windows
    falling = [{"wdist_mean": w, "real_conf": 0.9} for w in (4.0, 3.6, 3.2, 2.9, 2.6, 2.3)]
    assert not est._is_flat(falling)
    rising_conf = [{"wdist_mean": 2.0, "real_conf": c} for c in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)]
    assert not est._is_flat(rising_conf)
    assert not PFC(eval_every=10)._is_flat(level)  # flat_window = 0: the paper's fixed N


def test_flat_stop_max_seconds_and_batch_scores_in_the_curve():
    ds = eight_gaussians(300, seed=0)
    kw = dict(TOY, hidden=16, n_critic=1, n_class=1, random_state=0)
    est = PFC(n_iter=200, eval_every=5, flat_window=10, flat_tol=1e9, **kw).fit(ds.X, ds.y)
    assert est.n_iter_ == 30 and len(est.curve_) == 6  # stopped after 3 windows of 2 readings
    row = est.curve_[-1]
    assert {"wdist_mean", "real_conf", "label_change", "acc", "batch_purity", "batch_nmi", "batch_ari"} <= set(row)
    assert 1 / 8 <= row["real_conf"] <= 1 and 0 <= row["label_change"] <= 1
    fast = PFC(n_iter=10_000, max_seconds=0.5, **kw).fit(ds.X)
    assert 0 < fast.n_iter_ < 10_000 and fast.labels_.shape == (300,)
    unsup = PFC(n_iter=10, eval_every=5, **kw).fit(ds.X)  # monitors without labels
    assert [set(r) for r in unsup.curve_] == [{"it", "wdist_mean", "real_conf", "label_change"}] * 2
    with pytest.raises(InvalidInputError, match="flat_window"):
        PFC(n_clusters=3, flat_window=100, eval_every=30, verbose=0).fit(np.random.default_rng(0).random((50, 2)))
