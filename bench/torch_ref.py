#!/usr/bin/env python3
"""PyTorch side of tbviz's side-by-side benchmarks (bench/run.sh runs both).

torchvision mobilenet_v2 with width_mult=1.4 (untrained weights: speed does not depend on
them), 224x224 input, 2 threads, weights frozen. Width 1.4 is the network tbviz's side runs: the
nsfwjs MobileNetV2 is Keras' MobileNetV2 alpha 1.4 (first conv 48 channels, last block 1792,
about 0.58 GMAC per image), layer for layer the same as torchvision's width_mult=1.4; the
torchvision default (width 1.0, 0.30 GMAC) would be half the work (--width-mult 1.0 runs it). Prints one JSON object per line:
{"work": ..., "batch": ..., "ms_per_image": ...} (median of the repeats).

Grad-CAM / Grad-CAM++ / LayerCAM use forward hooks on features[18] (the last conv block,
7x7x1792, the layer tbviz uses on the nsfwjs MobileNetV2) and one backward pass, as
pytorch-grad-cam does; Score-CAM follows torchcam (one masked forward pass per channel of that
layer, 1792, in batches of 32).
Filter visualization: one gradient-ascent step on the input maximising a channel mean at
features[6] (as in bench/README.md), for 1 and 16 channels at once.
"""
import argparse, json, statistics, time

import torch
import torch.nn.functional as F
import torchvision


def timeit(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--width-mult", type=float, default=1.4)
    ap.add_argument("--scorecam-batch", type=int, default=32)
    ap.add_argument("--skip-scorecam", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = torchvision.models.mobilenet_v2(width_mult=a.width_mult).eval()
    for p in m.parameters():
        p.requires_grad_(False)

    def emit(work, batch, secs, **extra):
        print(json.dumps({"work": work, "batch": batch, "ms_per_image": 1000 * secs / batch,
                          "torch": torch.__version__, "threads": a.threads,
                          "width_mult": a.width_mult, **extra}), flush=True)

    acts = {}
    m.features[18].register_forward_hook(lambda mod, i, o: acts.__setitem__("a", o))

    for b in (1, 8):
        x = torch.rand(b, 3, a.size, a.size)
        # Best of two modes: no_grad, and autograd on with the input
        # requiring grad (how the CAM rows run); on this build the no_grad
        # path is sometimes the slower one.
        with torch.no_grad():
            t_nograd = timeit(lambda: m(x), a.repeats)
        xg = x.clone().requires_grad_(True)
        emit("forward", b, min(t_nograd, timeit(lambda: m(xg), a.repeats)))

        def cam(kind):
            xi = x.clone().requires_grad_(True)
            out = m(xi)
            A = acts["a"]
            score = out[torch.arange(b), out.argmax(1)].sum()
            g, = torch.autograd.grad(score, A)
            if kind == "gradcam":
                w = g.mean((2, 3), keepdim=True)
                return F.relu((w * A).sum(1))
            if kind == "gradcam++":
                g2, g3 = g ** 2, g ** 3
                den = 2 * g2 + (A * g3).sum((2, 3), keepdim=True)
                alpha = g2 / torch.where(den != 0, den, torch.ones_like(den))
                w = (alpha * F.relu(g)).sum((2, 3), keepdim=True)
                return F.relu((w * A).sum(1))
            return F.relu((F.relu(g) * A).sum(1))  # layercam

        for kind in ("gradcam", "gradcam++", "layercam"):
            emit(kind, b, timeit(lambda: cam(kind), a.repeats))

    if not a.skip_scorecam:
        x = torch.rand(1, 3, a.size, a.size)

        def scorecam():
            with torch.no_grad():
                out = m(x)
                c = out.argmax(1).item()
                A = acts["a"][0]  # [K,h,w]
                K = A.shape[0]
                mn = A.flatten(1).min(1)[0][:, None, None]
                mx = A.flatten(1).max(1)[0][:, None, None]
                norm = (A - mn) / torch.where(mx > mn, mx - mn, torch.ones_like(mx))
                up = F.interpolate(norm[:, None], size=(a.size, a.size), mode="bilinear", align_corners=False)
                base = m(torch.zeros_like(x))[0, c]
                scores = []
                for i in range(0, K, a.scorecam_batch):
                    scores.append(m(x * up[i:i + a.scorecam_batch])[:, c] - base)
                w = torch.softmax(torch.cat(scores), 0)
                return F.relu((w[:, None, None] * A).sum(0))
        emit("scorecam", 1, timeit(scorecam, 1, warmup=0), passes=m.features[18][0].out_channels)

    # Filter visualization: one gradient-ascent step at features[6].
    fa = {}
    m.features[6].register_forward_hook(lambda mod, i, o: fa.__setitem__("a", o))
    for n in (1, 16):
        img = torch.rand(n, 3, a.size, a.size, requires_grad=True)

        def step():
            m(img)
            obj = fa["a"][torch.arange(n), torch.arange(n) % fa["a"].shape[1]].mean((1, 2)).sum()
            g, = torch.autograd.grad(obj, img)
            with torch.no_grad():
                img.add_(g / (g.norm() + 1e-8))
        emit("filters_step", n, timeit(step, a.repeats))


if __name__ == "__main__":
    main()
