#!/usr/bin/env python3
"""PyTorch side of bench/filters.sh: one plain gradient-ascent step of filter visualization.

torchvision mobilenet_v2 with width_mult=1.4 (the nsfwjs MobileNetV2's width; untrained weights:
speed does not depend on them), truncated after features[6] (the block whose output is the
target, as tbviz evaluates only what the target needs), 224x224 input, weights frozen, the
input requiring grad. One step: forward, objective = sum over batch element b of the mean of
channel b, backward to the input, and the L2-normalised update. Prints one JSON object per
line: {"work", "channels", "ms_per_step", "torch", "threads"} (median of the repeats).
"""
import argparse, json, statistics, time

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(width_mult=1.4).eval()
    body = net.features[:7]
    for p in body.parameters():
        p.requires_grad_(False)
    for n in (1, 16):
        img = (0.5 + (torch.rand(n, 3, a.size, a.size) - 0.5) / 8).requires_grad_(True)

        def step():
            act = body(img)
            obj = act[torch.arange(n), torch.arange(n) % act.shape[1]].mean((1, 2)).sum()
            g, = torch.autograd.grad(obj, img)
            with torch.no_grad():
                k = 0.02 * (g[0].numel() ** 0.5) / (g.flatten(1).norm(dim=1) + 1e-12)
                img.add_(k[:, None, None, None] * g).clamp_(0, 1)

        for _ in range(2):
            step()
        ts = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t0)
        print(json.dumps({"work": "filters_step", "channels": n, "ms_per_step": 1000 * statistics.median(ts),
                          "torch": torch.__version__, "threads": a.threads}), flush=True)


if __name__ == "__main__":
    main()
