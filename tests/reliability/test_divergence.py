"""Divergence: a NaN/inf loss is caught at the step that produced it, the run stops with a message naming
phase, step and loss term, no NaN result is ever set or written, and on_divergence="rollback" restores the
last checkpoint with halved learning rates (at most max_rollbacks times)."""
import numpy as np
import pytest
import torch

import deepclust.engine.deep as deep
from deepclust.engine.base import estimator
from deepclust.engine.deep import DeepClusterer
from deepclust.errors import DivergenceError
from deepclust.methods import get

torch.set_num_threads(1)
X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)


@estimator
class Toy(DeepClusterer):
    """Linear map trained by SGD; `poison` (a list of steps) makes the loss NaN at those steps, once each."""

    lr: float = 0.1
    n_steps: int = 30
    log_every: int = 10
    poison: list | None = None
    poison_forever: bool = False

    def _fit(self, X, y):
        fit = self._make_fit(X, y)
        s = fit.state
        if not hasattr(s, "net"):
            s.net = torch.nn.Linear(X.shape[1], 2)
            s.opt = torch.optim.SGD(s.net.parameters(), lr=self.lr)
        self.calls_ = []  # (step, lr) of every executed step

        def step(i):
            self.calls_.append((i, s.opt.param_groups[0]["lr"]))
            x = fit.data.batch(torch.arange(fit.data.n))
            loss = s.net(x).pow(2).mean()
            if self.poison and i in self.poison:
                if not self.poison_forever:
                    self.poison.remove(i)
                loss = loss * float("nan")
            s.opt.zero_grad()
            loss.backward()
            s.opt.step()
            return {"loss": loss.detach()}

        fit.phase("train", self.n_steps, step, unit="it", log_every=self.log_every)
        with torch.no_grad():
            z = s.net(torch.from_numpy(X))
        fit.finish(z.argmax(1), encoder_=s.net, cluster_centers_=np.eye(2, dtype=np.float32))


def test_nan_is_caught_at_the_step_with_phase_and_term():
    est = Toy(poison=[13], verbose=0)
    with pytest.raises(DivergenceError, match=r"'loss' became nan in phase 'train' at it 14") as e:
        est.fit(X)
    assert e.value.step == 14 and e.value.term == "loss" and e.value.phase == "train"
    assert est.calls_[-1][0] == 13  # stopped at once: no step after the NaN one ran (log_every=10)
    assert not hasattr(est, "labels_")  # no (NaN) result set


def test_gpu_path_checks_at_log_points_but_names_the_first_bad_step(monkeypatch):
    monkeypatch.setattr(deep, "CHECK_EACH_STEP", False)  # what happens on a GPU: no per-step host sync
    est = Toy(poison=[13], verbose=0)
    with pytest.raises(DivergenceError, match="at it 14") as e:
        est.fit(X)
    assert est.calls_[-1][0] == 19  # detected at the next log point (it 20) ...
    assert e.value.step == 14  # ... but the message names the step that produced the NaN


def test_nan_weights_are_never_returned_as_results():
    @estimator
    class Broken(Toy):
        def _fit(self, X, y):
            fit = self._make_fit(X, y)
            net = torch.nn.Linear(X.shape[1], 2)
            with torch.no_grad():
                net.weight.fill_(float("nan"))
            fit.finish(np.zeros(len(X), dtype=np.int64), encoder_=net, cluster_centers_=np.eye(2))

    est = Broken(verbose=0)
    with pytest.raises(DivergenceError, match="encoder_"):
        est.fit(X)
    assert not hasattr(est, "labels_")


def test_rollback_halves_learning_rates_and_finishes(tmp_path):
    ref = Toy(verbose=0).fit(X)
    est = Toy(poison=[17], on_divergence="rollback", checkpoint_dir=str(tmp_path), checkpoint_every=5,
              verbose=0).fit(X)
    assert est.rollbacks_ == 1
    ev = [r for r in est.history_ if r.get("event") == "rollback"]
    assert ev and ev[0]["diverged_at"] == 18 and ev[0]["resumed_at"] == 15 and ev[0]["lr_scale"] == 0.5
    steps = [i for i, _ in est.calls_]
    assert steps[:18] == list(range(18)) and steps[18:] == list(range(15, 30))  # back to the checkpoint
    lrs = dict((i, lr) for i, lr in est.calls_[18:])
    assert all(lr == pytest.approx(0.05) for lr in lrs.values())  # halved after the rollback
    assert all(lr == pytest.approx(0.1) for _, lr in est.calls_[:18])
    assert np.isfinite(est.cluster_centers_).all() and est.labels_.shape == ref.labels_.shape


def test_rollback_without_checkpoint_dir_uses_the_phase_start_and_gives_up_after_max():
    est = Toy(poison=[3], on_divergence="rollback", verbose=0).fit(X)  # no checkpoint_dir: in memory
    assert est.rollbacks_ == 1 and [i for i, _ in est.calls_][:5] == [0, 1, 2, 3, 0]
    est = Toy(poison=[3], poison_forever=True, on_divergence="rollback", max_rollbacks=2, verbose=0)
    with pytest.raises(DivergenceError, match="after 2 rollback"):
        est.fit(X)
    assert [lr for i, lr in est.calls_ if i == 0] == pytest.approx([0.1, 0.05, 0.025])
    assert not hasattr(est, "labels_")


def test_idec_divergence_raise_and_rollback(monkeypatch):
    """A real method: NaN injected into IDEC's clustering loss at one call."""
    import deepclust.engine.training as training
    orig, calls = training.kl_clustering_loss, {"n": 0}

    def flaky(p, q):
        calls["n"] += 1
        out = orig(p, q)
        return out * float("nan") if calls["n"] == 7 else out

    monkeypatch.setattr(training, "kl_clustering_loss", flaky)
    kw = dict(hidden=(32, 16), latent_dim=4, pretrain_epochs=2, max_iter=30, update_interval=10, n_init=1,
              verbose=0, n_clusters=4, batch_size=64)
    Xd = np.random.default_rng(1).normal(size=(200, 12)).astype(np.float32)
    with pytest.raises(DivergenceError, match=r"phase 'cluster' at it 7"):
        get("idec")(**kw).fit(Xd)
    calls["n"] = 0
    est = get("idec")(**kw, on_divergence="rollback").fit(Xd)
    assert est.rollbacks_ == 1 and np.isfinite(est.cluster_centers_).all()
    ev = [r for r in est.history_ if r.get("event") == "rollback"][0]
    assert ev["phase"] == "cluster" and ev["term"] in ("kl_loss", "loss") and ev["optimizers"] >= 1


def test_bad_run_params():
    from deepclust.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="on_divergence"):
        Toy(on_divergence="ignore", verbose=0).fit(X)
    with pytest.raises(InvalidInputError, match="max_bytes"):
        Toy(max_bytes=-1, verbose=0).fit(X)
