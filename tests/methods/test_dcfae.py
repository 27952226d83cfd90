"""DCFAE (spec 000): architecture (§2.2-2.8), losses (§3), behaviour on real data, save/load, resume."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepclust.errors import InvalidInputError
from deepclust.methods import get
from deepclust.methods import dcfae as mod
from deepclust.methods.dcfae import DCFAE, clustering_loss, similarity_p_q, vae_losses, augment_batch
from deepclust.nn.resnet_vae import (DeepDenseNet, ResidualDiscriminator, ResNetDecoder, ResNetEncoder, n_params,
                                     save_image_grid)

torch.set_num_threads(1)

# tiny but complete DCFAE for the behavioural tests (32x32 digits)
TINY = dict(width=0.0625, dense_hidden=(128, 64, 64), batch_size=32, lr=1e-3, disc_lr=1e-3, n_init=3, verbose=0)


@pytest.fixture(scope="module")
def digits32():
    from deepclust.datasets import load_dataset
    return load_dataset("digits", resize=32)


# ---- architecture (spec §2.3-2.6, parameter counts §2.8) -------------------------------------------------
@pytest.mark.parametrize("c,enc,dec,dis", [(1, 8_023_524, 10_282_369, 5_134_401), (3, 8_024_676, 10_283_523, 5_134_977)])
def test_parameter_counts_paper(c, enc, dec, dis):
    assert n_params(ResNetEncoder(c)) == enc
    assert n_params(ResNetDecoder(c)) == dec
    assert n_params(ResidualDiscriminator(c)) == dis
    assert n_params(DeepDenseNet()) == 1_441_842


@pytest.mark.parametrize("c,enc,dec,dis", [(1, 1_754_724, 4_013_569, 322_433), (3, 1_755_876, 4_014_723, 323_009)])
def test_parameter_counts_without_resblocks(c, enc, dec, dis):
    assert n_params(ResNetEncoder(c, residual=False)) == enc
    assert n_params(ResNetDecoder(c, residual=False)) == dec
    assert n_params(ResidualDiscriminator(c, residual=False)) == dis


def test_layer_shapes_paper():
    enc, dec, dis = ResNetEncoder(1), ResNetDecoder(1), ResidualDiscriminator(1)
    x = torch.rand(2, 1, 32, 32)
    shapes, h = [], x
    for layer in enc.body:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 16, 16), (64, 16, 16), (64, 16, 16), (128, 8, 8), (128, 8, 8), (128, 8, 8),
                      (256, 4, 4), (256, 4, 4), (256, 4, 4), (512, 2, 2), (512, 2, 2), (512, 2, 2), (2048,)]
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (2, 50)
    h = F.relu(dec.fc(mu).view(-1, *dec.start))
    assert tuple(h.shape[1:]) == (512, 2, 2)
    outs = []
    for layer in dec.body:
        h = layer(h)
        if isinstance(layer, (torch.nn.ConvTranspose2d,)):
            outs.append(tuple(h.shape[1:]))
    assert outs == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (1, 32, 32)]
    h, outs = x, []
    for layer in dis.body:
        h = layer(h)
        if isinstance(layer, torch.nn.Conv2d):
            outs.append(tuple(h.shape[1:]))
    assert outs == [(32, 16, 16), (64, 8, 8), (512, 4, 4)]
    assert dis(x).shape == (2, 1)
    dense = DeepDenseNet().eval()
    assert [m.out_features for m in dense.net if isinstance(m, torch.nn.Linear)] == [2048, 512, 512, 50]
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in dense.net) == 3
    assert dense(mu).shape == (2, 50)


def test_resblock_is_identity_plus_relu():
    from deepclust.nn.resnet_vae import ResBlock
    b = ResBlock(4)
    for p in b.conv2.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(b(x), F.relu(x))


# ---- losses (spec §3) ---------------------------------------------------------------------------------
def _np_loss(mu, c, rho, eps=1e-10):
    def joint(h, dof):
        d2 = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
        k = (1 + d2 / dof) ** (-(dof + 1) / 2)
        return k / k.sum()
    P, Q = joint(mu, rho), joint(c, 1.0)
    return P, Q, -(np.clip(P, eps, 1) * np.log(np.clip(Q, eps, 1))).sum()


def test_p_q_are_distributions_and_l_gamma_matches_numpy():
    g = torch.Generator().manual_seed(0)
    mu, c = torch.randn(40, 50, generator=g, dtype=torch.float64), torch.randn(40, 50, generator=g, dtype=torch.float64)
    P, Q = similarity_p_q(mu, c, rho=100.0)
    # joint normalisation over all M^2 ordered pairs (spec §3.5): non-negative, symmetric, total mass 1
    for M in (P, Q):
        assert (M >= 0).all() and torch.allclose(M, M.T)
        assert math.isclose(M.sum().item(), 1.0, rel_tol=1e-5)
    Pn, Qn, Ln = _np_loss(mu.numpy().astype(np.float64), c.numpy().astype(np.float64), 100.0)
    np.testing.assert_allclose(P.numpy(), Pn, rtol=1e-4)
    np.testing.assert_allclose(Q.numpy(), Qn, rtol=1e-4)
    L = clustering_loss(mu, c, 100.0)
    assert math.isclose(L.item(), Ln, rel_tol=1e-4)
    # excluding self pairs: zero diagonal, still a joint distribution
    P0, _ = similarity_p_q(mu, c, 100.0, exclude_self=True)
    assert torch.all(P0.diagonal() == 0) and math.isclose(P0.sum().item(), 1.0, rel_tol=1e-5)
    # gradients reach mu through P (A4) unless detached
    mu_r = mu.clone().requires_grad_(True)
    clustering_loss(mu_r, c, 100.0).backward()
    assert mu_r.grad.abs().sum() > 0
    mu_d = mu.clone().requires_grad_(True)
    assert not clustering_loss(mu_d, c, 100.0, detach_p=True).requires_grad  # P is a fixed target (c is fixed here)


def test_vae_losses_match_direct_formula():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 1, 32, 32, generator=g)
    logits = torch.randn(5, 1, 32, 32, generator=g)
    mu, logvar = torch.randn(5, 50, generator=g), torch.randn(5, 50, generator=g)
    rec, kl = vae_losses(x, logits, mu, logvar)
    eta = torch.sigmoid(logits).double()
    rec_d = -(x * eta.log() + (1 - x) * (1 - eta).log()).sum((1, 2, 3)).mean()
    kl_d = 0.5 * (logvar.exp() + mu ** 2 - logvar - 1).sum(1).mean()
    assert math.isclose(rec.item(), rec_d.item(), rel_tol=1e-5)
    assert math.isclose(kl.item(), kl_d.item(), rel_tol=1e-5)


def test_augmentation_shapes_and_magnitude():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 32, 32)
    a = augment_batch(x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(augment_batch(x, rotation=0.0, shift=0), augment_batch(x, rotation=0.0, shift=0))
    assert torch.allclose(augment_batch(x, rotation=0.0, shift=0), x, atol=1e-5)


def test_discriminator_loss_falls_on_real_vs_noise(digits32):
    torch.manual_seed(0)
    real = torch.from_numpy(digits32.X[:256])
    dis = ResidualDiscriminator(1, width=0.125)
    opt = torch.optim.Adam(dis.parameters(), lr=1e-3)
    tau = torch.cat([torch.zeros(32), torch.ones(32)])
    losses = []
    for i in range(25):
        fake = torch.rand(32, 1, 32, 32)
        d = dis(torch.cat([fake, real[(i * 32) % 256:(i * 32) % 256 + 32]])).view(-1)
        loss = F.binary_cross_entropy_with_logits(d, tau)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.5 and np.mean(losses[-5:]) < 0.1


# ---- estimator ---------------------------------------------------------------------------------------
def test_registry_presets_and_ablation_names():
    assert get("dcfae") is DCFAE
    assert DCFAE().variant == "DCFAE"
    assert DCFAE(use_discriminator=False).variant == "DCFAE - Dis"
    assert DCFAE(residual=False).variant == "DCFAE - Resnet"
    assert DCFAE(use_densenet=False).variant == "DCFAE - DenNet"
    p = DCFAE.from_preset("paper")
    assert (p.lam, p.lam_cluster, p.rho, p.latent_dim, p.lr, p.batch_size, p.dropout) == (100, 10, 100, 50, 1e-4, 256, 0.3)
    cpu = DCFAE.from_preset("cpu")
    assert cpu.width < 1
    # issue #7: a discriminator at lr 1e-3 won the game at lambda = 100 and collapsed the posterior within
    # the cpu budget (USPS ACC 0.32); the reduced presets keep the objective and the paper's D learning rate
    assert (cpu.lam, cpu.lam_cluster, cpu.rho, cpu.disc_lr) == (100, 10, 100, 1e-4)


@pytest.mark.parametrize("kw", [dict(batch_size=1), dict(width=0), dict(lr=-1), dict(dropout=1.0),
                                dict(final_clustering="dbscan"), dict(pretrain_epochs=-1), dict(dense_hidden=(0,))])
def test_bad_parameters(kw, digits32):
    with pytest.raises(InvalidInputError):
        DCFAE(n_clusters=10, verbose=0, **kw).fit(digits32.X[:50])


def test_bad_inputs(digits32):
    with pytest.raises(InvalidInputError, match="multiple of 16"):
        DCFAE(n_clusters=3, verbose=0).fit(np.random.rand(20, 1, 24, 24).astype(np.float32))
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        DCFAE(n_clusters=3, verbose=0).fit(digits32.X[:20] * 2 - 1)


@pytest.fixture(scope="module")
def fitted(digits32):
    X, y = digits32.X[:300], digits32.y[:300]
    est = DCFAE(n_clusters=10, pretrain_epochs=10, finetune_epochs=3, **{**TINY, "batch_size": 16}).fit(X, y)
    return est, X, y


def test_tiny_run_beats_chance(fitted):
    from deepclust.metrics import acc, nmi
    est, X, y = fitted
    assert est.labels_.shape == (300,)
    rng = np.random.default_rng(0)
    chance = [(acc(y, p), nmi(y, p)) for p in (rng.integers(0, 10, 300) for _ in range(20))]
    c_acc, c_nmi = np.max(chance, axis=0)          # best of 20 random labelings (about 0.15 / 0.08)
    a, m = acc(y, est.labels_), nmi(y, est.labels_)
    # 13 epochs on 300 images (~20 s) is far from converged, and at this budget L_gamma pushes the
    # embedding apart (see the DCFAE docstring), so the result varies with the seed: seeds 0-3 give
    # ACC / NMI 0.37 / 0.29, 0.27 / 0.18, 0.26 / 0.23, 0.42 / 0.42. The bounds hold for all four, not just
    # this fixture's seed 0: NMI at least twice the best of 20 random labelings, ACC 4 points above it.
    assert a > c_acc + 0.04 and m > 0.15 and m > 2 * c_nmi, (a, m, c_acc, c_nmi)
    hist = est.history_
    assert {"rec", "kl", "l_g", "l_d", "disc_score", "gen_score"} <= set(hist[0])
    assert "l_gamma" in [r for r in hist if r["phase"] == "finetune"][0]
    assert est.transform(X[:7]).shape == (7, 50)


def test_save_load_predict_and_images(fitted, tmp_path):
    est, X, _ = fitted
    p1 = est.predict(X)
    C = est.transform(X).astype(np.float64)        # predict = nearest k-means centre in c-space
    d2 = ((C[:, None, :] - np.asarray(est.cluster_centers_, np.float64)[None]) ** 2).sum(-1)
    assert (p1 == d2.argmin(1)).mean() > 0.98
    est.save(tmp_path / "m.pt")
    back = DCFAE.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(back.predict(X), p1)
    np.testing.assert_allclose(back.transform(X[:20]), est.transform(X[:20]), atol=1e-6)
    s = back.save_samples(tmp_path / "samples.png", n=16, nrow=4)
    r = back.save_reconstructions(X, tmp_path / "recon.png", n=12, nrow=8)
    assert s.stat().st_size > 100 and r.stat().st_size > 100
    assert back.sample(4).shape == (4, 1, 32, 32) and back.reconstruct(X[:3]).shape == (3, 1, 32, 32)


def test_image_grid_rgb(tmp_path):
    p = save_image_grid(np.random.rand(5, 3, 8, 8), tmp_path / "g.png", nrow=3)
    import matplotlib.image as mpimg
    assert mpimg.imread(p).shape[:2] == (2 * 10 + 2, 3 * 10 + 2)


def test_ablations_run(digits32):
    X = digits32.X[:96]
    for kw in (dict(use_discriminator=False), dict(residual=False), dict(use_densenet=False)):
        est = DCFAE(n_clusters=4, pretrain_epochs=1, finetune_epochs=1, **{**TINY, **kw}).fit(X)
        assert est.labels_.shape == (96,)
        dim = 50
        assert est.transform(X[:3]).shape == (3, dim)
        if not kw.get("use_discriminator", True):
            assert est.discriminator_ is None and "l_d" not in est.history_[0]


def test_resume_gives_identical_labels(digits32, tmp_path, monkeypatch):
    X = digits32.X[:160]
    kw = dict(n_clusters=5, pretrain_epochs=2, finetune_epochs=2, random_state=3, **TINY)
    ref = DCFAE(**kw).fit(X)
    ck = tmp_path / "ck"
    calls = {"n": 0}
    real = mod.cluster_loss

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 7:  # inside the second fine-tuning epoch (5 batches of 32 per epoch)
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)

    monkeypatch.setattr(mod, "cluster_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        DCFAE(checkpoint_dir=str(ck), checkpoint_every=1, **kw).fit(X)
    monkeypatch.setattr(mod, "cluster_loss", real)
    assert (ck / "latest.pt").exists()
    resumed = DCFAE(checkpoint_dir=str(ck), checkpoint_every=1, resume=True, **kw).fit(X)
    np.testing.assert_array_equal(resumed.labels_, ref.labels_)
    np.testing.assert_allclose(resumed.transform(X[:10]), ref.transform(X[:10]), atol=1e-5)


def test_reproducible_from_random_state(digits32):
    X = digits32.X[:64]
    kw = dict(n_clusters=4, pretrain_epochs=1, finetune_epochs=1, random_state=5, **TINY)
    a, b = DCFAE(**kw).fit(X), DCFAE(**kw).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.transform(X[:5]), b.transform(X[:5]), atol=1e-6)
