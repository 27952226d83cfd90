"""Throughput of one DCFAE training step (fine-tuning step: VAE + discriminator + DeepDenseNet + L_gamma) on
this machine, at the paper width and at the cpu preset width, with FLOPs per image counted by
torch.utils.flop_counter.FlopCounterMode and the machine's dense fp32 matmul GFLOP/s measured in the same run,
so the fraction of peak is visible.

    OMP_NUM_THREADS=1 python benchmarks/dcfae_throughput.py            # -> benchmarks/results/dcfae/throughput-cpu.json

Budget: a few steps per configuration (paper width at a reduced batch: a batch-256 step there takes
minutes on one core; per-image cost is batch-independent apart from L_gamma's O(M^2 L) term, which is
negligible). Same code path as DCFAE.fit (DCFAE._epoch).
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import torch


def matmul_gflops(n: int = 1024, reps: int = 10, device="cpu") -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def make_fit(est, n, device):
    from deepclust.engine.data import StepSampler
    X = np.random.default_rng(0).random((n, 1, 32, 32), dtype=np.float32)
    fit = est._make_fit(X, None, image_shape=(1, 32, 32))
    s = fit.state
    s.enc, s.dec, s.dis, s.dense = est._build((1, 32, 32), fit.device)
    s.opt_g = est._adam([*s.enc.parameters(), *s.dec.parameters(), *s.dense.parameters()], est.lr)
    s.opt_d = est._adam(s.dis.parameters(), est.disc_lr)
    return fit, StepSampler(n, est.batch_size, 0, "bench")


def measure(name, settings, batch, steps, device):
    from torch.utils.flop_counter import FlopCounterMode
    from deepclust.methods.dcfae import DCFAE
    from deepclust.nn.resnet_vae import n_params
    est = DCFAE(**{**settings, "batch_size": batch, "verbose": 0, "device": device})
    fit, sampler = make_fit(est, batch * (steps + 2), device)
    s = fit.state
    params = {k: n_params(m) for k, m in (("encoder", s.enc), ("decoder", s.dec), ("discriminator", s.dis),
                                          ("densenet", s.dense))}
    with FlopCounterMode(display=False) as fc:   # one full step: forward + both backward passes + nothing else
        est._epoch(fit, sampler, 1, 0, finetune=True)
    flops_step = fc.get_total_flops()
    est._epoch(fit, sampler, 1, 0, finetune=True)  # warm-up
    t = time.perf_counter()
    est._epoch(fit, sampler, steps, 0, finetune=True)
    if device != "cpu":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t) / steps
    return {"config": name, "width": est.width, "dense_hidden": list(est.dense_hidden), "batch": batch,
            "timed_steps": steps, "seconds_per_step": round(sec, 4), "images_per_s": round(batch / sec, 2),
            "gflop_per_image_step": round(flops_step / batch / 1e9, 4),
            "achieved_gflops": round(flops_step / sec / 1e9, 2), "params": params,
            "params_total": sum(params.values())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--paper-batch", type=int, default=16)
    ap.add_argument("--paper-steps", type=int, default=2)
    ap.add_argument("--cpu-batch", type=int, default=None, help="default: the cpu preset's batch size")
    ap.add_argument("--cpu-steps", type=int, default=4)
    ap.add_argument("--out", default="benchmarks/results/dcfae/throughput-cpu.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.engine.io import write_json
    from deepclust.methods.dcfae import DCFAE

    peak = matmul_gflops(device=args.device)
    rows = [measure("paper", DCFAE.presets["paper"], args.paper_batch, args.paper_steps, args.device),
            measure("cpu", DCFAE.presets["cpu"], args.cpu_batch or DCFAE.presets["cpu"]["batch_size"], args.cpu_steps,
                    args.device)]
    peak_after = matmul_gflops(device=args.device)
    for r in rows:
        r["fraction_of_matmul_peak"] = round(r["achieved_gflops"] / max(peak, peak_after), 3)
        print(r)
    rec = {"method": "dcfae", "what": "one fine-tuning training step (Algorithm 1 lines 5-14), fp32",
           "device": machine_description(args.device), "threads": torch.get_num_threads(),
           "matmul_gflops_1024": {"before": round(peak, 2), "after": round(peak_after, 2)},
           "results": rows,
           "note": "FLOPs from torch.utils.flop_counter.FlopCounterMode (matmul/conv only, 2 FLOPs per MAC); "
                   "the CPU is shared with other jobs, so timings are noisy lower bounds on throughput",
           "command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()}
    write_json(Path(args.out), rec)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
