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
from deepclust.methods.dcfae import (DCFAE, augment_batch, branch_after_pretraining, clustering_loss, p_diagonal_mass,
                                     pairwise_log_similarity, similarity_p_q, tsne_joint_p, vae_losses)
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


def _np_x2p(h, perplexity, tol=1e-10, max_iter=200):
    """t-SNE's conditional P by the reference binary search on beta (van der Maaten's tsne.py x2p), then
    symmetrised: an independent implementation to check tsne_joint_p against."""
    n = len(h)
    d2 = ((h[:, None, :] - h[None, :, :]) ** 2).sum(-1)
    P = np.zeros((n, n))
    for i in range(n):
        di = np.delete(d2[i], i)
        beta, lo, hi = 1.0, 0.0, np.inf
        for _ in range(max_iter):
            w = np.exp(-(di - di.min()) * beta)
            p = w / w.sum()
            H = -(p[p > 0] * np.log(p[p > 0])).sum()
            if abs(H - np.log(perplexity)) < tol:
                break
            if H > np.log(perplexity):
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        P[i, np.arange(n) != i] = p
    return (P + P.T) / (2 * n)


def test_tsne_target_p_matches_reference_and_is_a_fixed_target():
    g = torch.Generator().manual_seed(1)
    h = torch.randn(48, 10, generator=g, dtype=torch.float64) * 3.0
    P = tsne_joint_p(h, perplexity=10.0)
    assert P.dtype == torch.float32 and not P.requires_grad
    assert torch.all(P.diagonal() == 0) and torch.allclose(P, P.T) and math.isclose(P.sum().item(), 1.0, rel_tol=1e-5)
    np.testing.assert_allclose(P.double().numpy(), _np_x2p(h.numpy(), 10.0), atol=1e-6, rtol=1e-3)
    # invariant to the scale of the embedding (the bandwidth adapts to each point's neighbourhood)
    np.testing.assert_allclose(tsne_joint_p(h * 100.0, 10.0).numpy(), P.numpy(), atol=1e-6)
    # a perplexity of M - 1 or more: every other point equally likely
    U = tsne_joint_p(h[:8], perplexity=50.0)
    np.testing.assert_allclose(U[~torch.eye(8, dtype=torch.bool)].numpy(), 1 / 56, rtol=1e-4)
    # the loss with this target: no gradient through P (mu moves only through Q = Eq. 10 on c = g(mu))
    mu = h.float().clone().requires_grad_(True)
    c = (mu * 2.0).detach()
    assert not clustering_loss(mu, c, target="tsne").requires_grad
    logq = pairwise_log_similarity(c, 1.0)
    assert math.isclose(clustering_loss(mu, c, target="tsne").item(), -(P * logq.clamp(min=math.log(1e-10))).sum().item(),
                        rel_tol=1e-5)


def _blob_fit(target, steps=100, seed=0):
    """A clustered 'latent space' (4 well-separated Gaussian blobs, 64 points in 10-D; points ~1-2 units from
    their neighbours, as mu after pretraining) and a small DeepDenseNet, both trained on L_gamma alone.
    Returns the statistics before and after: Eq. 9's P diagonal mass, within/between-cluster mean distance
    ratios of mu and of c, and k-means ACC on c."""
    from sklearn.cluster import KMeans

    from deepclust.metrics import acc
    g = torch.Generator().manual_seed(seed)
    k, n, dim = 4, 64, 10
    y = torch.arange(n) % k
    mu = (torch.randn(k, dim, generator=g) * 1.5)[y] + 0.5 * torch.randn(n, dim, generator=g)
    mu.requires_grad_(True)
    torch.manual_seed(seed)
    net = DeepDenseNet(dim, (64,), dim, dropout=0.0)
    opt = torch.optim.Adam([mu, *net.parameters()], lr=1e-2)
    same = (y[:, None] == y[None]) & ~torch.eye(n, dtype=torch.bool)
    diff = y[:, None] != y[None]

    def stats():
        with torch.no_grad():
            c = net(mu)
            dm, dc = torch.cdist(mu, mu), torch.cdist(c, c)
            lab = KMeans(k, n_init=10, random_state=0).fit_predict(c.numpy())
            return {"p_diag": p_diagonal_mass(mu).item(), "ratio_mu": (dm[same].mean() / dm[diff].mean()).item(),
                    "ratio_c": (dc[same].mean() / dc[diff].mean()).item(), "acc_c": acc(y.numpy(), lab)}

    before = stats()
    for _ in range(steps):
        loss = clustering_loss(mu, net(mu), 100.0, target=target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, stats(), loss.item()


def test_paper_loss_spreads_a_clustered_embedding_tsne_target_keeps_it():
    """Issue #15: Eq. 9-11 with self pairs, one joint normalisation and gradients through P are minimised by
    spreading mu until P is (almost) diagonal, where L_gamma -> log M; on the same start the t-SNE target
    keeps the blobs and tightens them."""
    before, after, loss = _blob_fit("paper")
    assert before["p_diag"] < 0.5 and after["p_diag"] > 0.95, (before, after)
    assert after["ratio_mu"] > 1.5 * before["ratio_mu"], (before, after)      # the clusters blur in mu
    assert abs(loss - math.log(64)) < 0.1                                        # the degenerate optimum
    before, after, _ = _blob_fit("tsne")
    assert after["p_diag"] <= before["p_diag"] + 0.02, (before, after)
    assert after["ratio_mu"] <= before["ratio_mu"] and after["ratio_c"] < before["ratio_c"], (before, after)
    assert after["acc_c"] == 1.0


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
    assert (p.target, cpu.target) == ("paper", "paper")
    # issue #15 repair: the same budgets, t-SNE target P (perplexity 10), DeepDenseNet dropout and L2 off,
    # k-means on c with n_init 20
    for name, base in (("cpu-repaired", cpu), ("paper-repaired", p)):
        r = DCFAE.from_preset(name)
        assert (r.target, r.perplexity, r.dropout, r.dense_l2, r.n_init) == ("tsne", 10.0, 0.0, 0.0, 20)
        same = {k: v for k, v in r.get_params().items() if k not in ("target", "perplexity", "dropout", "dense_l2")}
        assert same == {k: v for k, v in base.get_params().items() if k in same}


@pytest.mark.parametrize("kw", [dict(batch_size=1), dict(width=0), dict(lr=-1), dict(dropout=1.0),
                                dict(final_clustering="dbscan"), dict(pretrain_epochs=-1), dict(dense_hidden=(0,)),
                                dict(target="umap"), dict(perplexity=0.5)])
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


def test_branch_after_pretraining_equals_a_fit_from_scratch(digits32, tmp_path):
    """Benchmarks fine-tune the repaired variant from the paper variant's pretrained model: same labels as a
    repaired fit from scratch (Phase 1 does not depend on the fine-tuning settings), and a branch whose
    pretraining settings differ is refused."""
    X = digits32.X[:160]
    kw = dict(n_clusters=5, pretrain_epochs=2, finetune_epochs=2, random_state=3, **TINY)
    rep = dict(target="tsne", dropout=0.0, dense_l2=0.0)
    DCFAE(checkpoint_dir=str(tmp_path / "a"), **kw).fit(X)
    ref = DCFAE(**kw, **rep).fit(X)
    b = branch_after_pretraining(tmp_path / "a" / "after-pretrain.pt", DCFAE(**kw, **rep), tmp_path / "b").fit(X)
    np.testing.assert_array_equal(b.labels_, ref.labels_)
    np.testing.assert_allclose(b.transform(X[:10]), ref.transform(X[:10]), atol=1e-6)
    ft = [r for r in b.history_ if r["phase"] == "finetune"]
    assert "l_gamma" in ft[0] and all(0 < r["p_diag"] <= 1 for r in ft)
    with pytest.raises(InvalidInputError, match="pretraining settings differ"):
        branch_after_pretraining(tmp_path / "a" / "after-pretrain.pt", DCFAE(**{**kw, "lr": 1e-4}), tmp_path / "c")
