"""Training-step throughput (samples/s) of the DEC-family networks on this machine, next to the rate
the machine's dense matrix multiply reaches in the same run (so the fraction of peak is visible).

usage: python benchmarks/throughput.py [--threads N] [--steps 30] [--precision fp32|bf16]
Writes benchmarks/results/throughput/dec-family-<device>.json.
"""
import argparse
import datetime
import os
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from deepclust.bench.results import command_line, git_commit, machine_description
from deepclust.engine.assignment import kl_clustering_loss, student_t, target_distribution
from deepclust.engine.device import resolve_device
from deepclust.engine.io import write_json
from deepclust.engine.device import autocast
from deepclust.engine.training import make_optimizer
from deepclust.nn import ClusteringHead, ConvAutoencoder, MLPAutoencoder


def matmul_gflops(device, n=2048, reps=10, dtype=torch.float32):
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_step(kind, ae, head, opt, gamma, precision="fp32"):
    def step(x, p):
        with autocast(x.device, precision=precision):  # the engine's mixed precision, as in Fit.autocast
            z, x_hat = ae(x)
            loss = F.mse_loss(x_hat.float(), x)
            if kind != "pretrain":
                kl = kl_clustering_loss(p, head(z.float()))
                loss = kl if gamma is None else loss + gamma * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def measure(name, ae, shape, kind, gamma, device, batch=256, steps=30, precision="fp32"):
    ae = ae.to(device)
    head = ClusteringHead(torch.randn(10, 10)).to(device)
    opt = make_optimizer([*ae.parameters(), *head.parameters()], "adam", 1e-3)  # the library's (fused) Adam
    x = torch.rand(batch, *shape, device=device)
    p = target_distribution(student_t(torch.randn(batch, 10, device=device), head.centers.detach()))
    step = make_step(kind, ae, head, opt, gamma, precision)
    with FlopCounterMode(display=False) as fc:
        step(x, p)
    flops = fc.get_total_flops() / batch
    for _ in range(3):
        step(x, p)
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step(x, p)
    _sync(device)
    dt = time.perf_counter() - t
    sps = batch * steps / dt
    return {"network": name, "phase": kind, "batch_size": batch, "samples_per_s": round(sps, 1),
            "flops_per_sample": int(flops), "achieved_gflops": round(sps * flops / 1e9, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="bf16: the engine's bf16 autocast (precision='bf16'); the file gets a -bf16 suffix")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    peak = matmul_gflops(dev)
    peak_bf16 = matmul_gflops(dev, dtype=torch.bfloat16)
    rows = []
    for name, mk, shape in [("fc 784-500-500-2000-10", lambda: MLPAutoencoder(784), (784,)),
                            ("dcec cae 28x28", lambda: ConvAutoencoder((1, 28, 28)), (1, 28, 28)),
                            ("dcec cae 16x16", lambda: ConvAutoencoder((1, 16, 16)), (1, 16, 16))]:
        for kind, gamma in [("pretrain", None), ("dec-cluster", None), ("idec/dcec-cluster", 0.1)]:
            if name.startswith("dcec") and kind == "dec-cluster":
                continue
            r = measure(name, mk(), shape, kind, gamma, dev, steps=a.steps, precision=a.precision)
            r["fraction_of_matmul_rate"] = round(r["achieved_gflops"] / (peak_bf16 if a.precision == "bf16"
                                                                         else peak), 3)
            rows.append(r)
            print(r, flush=True)
    rec = {"benchmark": "dec-family training-step throughput", "device": machine_description(str(dev)),
           "threads": torch.get_num_threads(), "matmul_gflops_2048": round(peak, 2),
           "matmul_gflops_2048_bf16": round(peak_bf16, 2), "precision": a.precision,
           "load_average_at_start": os.getloadavg(), "rows": rows, "command": command_line(),
           "commit": git_commit(), "date": datetime.date.today().isoformat(),
           "note": "FLOPs per sample counted by torch.utils.flop_counter (forward + backward of one step). "
                   "The machine was shared with other jobs when load_average_at_start > threads."}
    suffix = f"-{a.threads}thread" if a.threads else ""
    suffix += "-bf16" if a.precision == "bf16" else ""
    write_json(f"benchmarks/results/throughput/dec-family-{dev.type}{suffix}.json", rec)


if __name__ == "__main__":
    main()
