"""Stage-3 diagnostics for agmm (spec 003): why does joint training lower the accuracy of the EM solution?

Loads one cached stage-1 autoencoder (written by benchmarks/agmm_paper.py to /tmp/deepclust-agmm), runs
stage 2 (sklearn EM, the estimator's settings) and a copy of AdaptiveGMM's stage-3 loop (same sampler,
SGD, lr steps, grad clip, variance floor; with the defaults below it reproduces the cpu preset of
commit 8ac0da3 exactly: USPS seed 0 ACC 0.595) and records, every --every iterations, on all samples:
ACC/NMI of argmax posterior, ACC of EM refitted on the current codes, mean log p, its volume term
E_post[-sum_d log sigma] and Mahalanobis term, code norms and per-dimension stds, per-component sigma,
weights and argmax shares, ||mu||, min centre distance, S. Diagnostic-only switches: --freeze
(enc, mu, sigma, w), --gmm_lr_mult (separate RMN lr, J10), --literal 1 (spec §3.4 "paper_literal" RMN
update). Summary of the runs: benchmarks/results/agmm/stage3-diagnosis.json.

    python benchmarks/diagnostics/agmm_stage3_diag.py --lr 1e-3 --eta 1e-3 --out /tmp/base.json
"""
import argparse, json, math, os, time, copy
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np, torch
torch.set_num_threads(1)
from sklearn.mixture import GaussianMixture
from deepclust.datasets import load_dataset
from deepclust.methods.agmm import GMMLayer
from deepclust.engine.data import StepSampler
from deepclust.metrics import acc, nmi

ap = argparse.ArgumentParser()
ap.add_argument("--dataset", default="usps")
ap.add_argument("--ae", default="/tmp/deepclust-agmm/ae-usps-cpu.pt")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--eta", type=float, default=1e-3)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--momentum", type=float, default=0.9)
ap.add_argument("--iters", type=int, default=1500)
ap.add_argument("--lr_step", type=int, default=1000)
ap.add_argument("--sep_grad", default="paper")
ap.add_argument("--var_floor", type=float, default=1e-4)
ap.add_argument("--grad_clip", type=float, default=100.0)
ap.add_argument("--every", type=int, default=250)
ap.add_argument("--gmm_lr_mult", type=float, default=1.0)
ap.add_argument("--freeze", default="", help="comma list: enc,mu,sigma,w")
ap.add_argument("--out", default=None)
ap.add_argument("--literal", type=int, default=0)
ap.add_argument("--refit_n_init", type=int, default=1, help="EM restarts of the refit (1 is noisy: single-init "
                "EM on the unchanged stage-2 codes already ranges 0.58-0.67 ACC on USPS)")
ap.add_argument("--tag", default="")
a = ap.parse_args()

ds = load_dataset(a.dataset)
X = torch.from_numpy(np.asarray(ds.X, dtype=np.float32)).flatten(1)
y = np.asarray(ds.y)
ae = torch.load(a.ae, map_location="cpu", weights_only=False)
enc = copy.deepcopy(ae.encoder)

def codes():
    enc.eval()
    with torch.no_grad():
        return torch.cat([enc(X[i:i + 4096]) for i in range(0, len(X), 4096)])

torch.manual_seed(a.seed)
Z0 = codes()
gm = GaussianMixture(ds.n_classes, covariance_type="diag", init_params="kmeans", n_init=1, max_iter=100, tol=1e-3,
                     reg_covar=1e-6, random_state=a.seed).fit(Z0.double().numpy())
em_lab = gm.predict(Z0.double().numpy())
gmm = GMMLayer.from_params(gm.means_, gm.covariances_, gm.weights_, a.var_floor if a.var_floor > 0 else None)
nb = ds.n_classes // 2
fr = set(filter(None, a.freeze.split(",")))
groups = []
if "enc" not in fr:
    groups.append({"params": list(enc.parameters()), "lr": a.lr, "mult": 1.0})
if a.literal:
    fr |= {"mu", "sigma", "w"}
gp = [p for n, p in [("mu", gmm.mu), ("sigma", gmm.log_sigma), ("w", gmm.logit_w)] if n not in fr]
if gp: groups.append({"params": gp, "lr": a.lr * a.gmm_lr_mult, "mult": a.gmm_lr_mult})
opt = torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum)
params = [p for g in groups for p in g["params"]]
sampler = StepSampler(len(X), 128, a.seed, "joint", shuffle=True)
rows = []

def snapshot(it):
    Z = codes()
    with torch.no_grad():
        lp, post = gmm(Z)
    lab = post.argmax(1).numpy()
    share = np.bincount(lab, minlength=ds.n_classes) / len(lab)
    sig = gmm.log_sigma_clamped().detach().exp()
    mu = gmm.mu.detach()
    dmin = torch.pdist(mu).min().item()
    # EM refit on the current codes (are the codes worse, or the GMM layer?)
    g2 = GaussianMixture(ds.n_classes, covariance_type="diag", random_state=a.seed, max_iter=100,
                         n_init=a.refit_n_init).fit(Z.double().numpy())
    l2 = g2.predict(Z.double().numpy())
    zs = Z.std(0)
    with torch.no_grad():
        ls = gmm.log_sigma_clamped()
        vol = -(post * ls.sum(1)[None]).sum(1).mean().item()          # E_post[-sum_d log sigma_kd]
        maha = (((Z[:, None, :] - mu[None]) ** 2 * torch.exp(-2 * ls)[None]).sum(-1) * post).sum(1).mean().item()
    r = {"it": it, "vol_term": round(vol, 3), "maha_term": round(-0.5 * maha, 3), "acc": round(acc(y, lab), 4), "nmi": round(nmi(y, lab), 4),
         "acc_em_refit": round(acc(y, l2), 4),
         "mean_loglik": round(lp.mean().item(), 3),
         "code_norm_mean": round(Z.norm(dim=1).mean().item(), 3),
         "code_std_mean": round(zs.mean().item(), 4), "code_std_min": round(zs.min().item(), 4),
         "sigma_geo_per_comp": [round(v, 4) for v in sig.log().mean(1).exp().tolist()],
         "sigma_min": round(sig.min().item(), 5), "sigma_floor": round(math.exp(float(gmm.log_sigma_min)), 5),
         "n_dims_at_floor": int((gmm.log_sigma.detach() <= gmm.log_sigma_min + 1e-6).sum()),
         "weights": [round(v, 4) for v in gmm.weights.tolist()],
         "share": [round(v, 4) for v in share.tolist()],
         "mu_norm_max": round(mu.norm(dim=1).max().item(), 3), "mu_dist_min": round(dmin, 3),
         "sep_S": round(gmm.separation(nb).item(), 2)}
    rows.append(r)
    print(json.dumps({k: v for k, v in r.items() if k not in ("weights",)}), flush=True)

t0 = time.time()
print(json.dumps({"em_acc": round(acc(y, em_lab), 4), "args": vars(a)}), flush=True)
snapshot(0)
gn_hist = []
for it in range(a.iters):
    enc.train()
    f = 0.1 ** (it // a.lr_step) if a.lr_step > 0 else 1.0
    for g in opt.param_groups:
        g["lr"] = a.lr * g["mult"] * f
    x = X[sampler.indices(it)]
    yb = enc(x)
    lp, _ = gmm(yb)
    nll = -lp.mean()
    sep = gmm.separation(nb, detach_neighbours=a.sep_grad == "paper") if a.eta else nll.new_zeros(())
    loss = nll - a.eta * sep
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(params, a.grad_clip if a.grad_clip > 0 else float("inf"))
    gn_hist.append(gn.item())
    opt.step()
    if a.literal:
        with torch.no_grad():
            yd = yb.detach()
            _, p = gmm(yd)
            var = torch.exp(2 * gmm.log_sigma_clamped())
            diff = yd[:, None, :] - gmm.mu[None]
            lr_g = a.lr * a.gmm_lr_mult * f
            dmu = (p[:, :, None] * diff / var[None]).mean(0)
            if a.eta:
                nbr = gmm.neighbours(nb)
                dmu += a.eta * 2 * (gmm.mu[:, None, :] - gmm.mu[nbr]).sum(1)
            dvar = (p[:, :, None] * (diff ** 2 / var[None] - 1)).mean(0)
            w = gmm.weights_t = torch.softmax(gmm.logit_w, 0)
            w_new = (1 - lr_g) * w + lr_g * p.mean(0)
            gmm.mu += lr_g * dmu
            newvar = (var + lr_g * dvar).clamp_min(math.exp(2 * float(gmm.log_sigma_min)))
            gmm.log_sigma.copy_(0.5 * torch.log(newvar))
            gmm.logit_w.copy_(torch.log(w_new))
    gmm.clamp_variance_()
    if (it + 1) % a.every == 0 or it + 1 == a.iters:
        snapshot(it + 1)
        rows[-1]["grad_norm_recent_mean"] = round(float(np.mean(gn_hist[-a.every:])), 3)
        rows[-1]["grad_norm_recent_max"] = round(float(np.max(gn_hist[-a.every:])), 3)
res = {"args": vars(a), "em_acc": round(acc(y, em_lab), 4), "rows": rows, "seconds": round(time.time() - t0, 1)}
print("seconds", res["seconds"])
if a.out:
    with open(a.out, "w") as fh:
        json.dump(res, fh)
