#!/usr/bin/env python3
"""Builds bench/run.sh's markdown table from its raw outputs.

usage: table.py torch1.jsonl [torch2.jsonl ...] --go pure.txt --go openblas.txt
PyTorch: best (lowest) median ms/image over the settings and rounds run; Go: median of
the benchmark's ms/image over all rounds' -count repeats (benchstat reads the same
files)."""
import json, re, statistics, sys

GOALS = {  # (work, ours/PyTorch limit for pure Go, for openblas), from issues 3 and 4
    "forward": (2.0, 1.0), "gradcam": (2.0, 1.0), "scorecam": (0.5, 0.5),
}

def main(argv):
    torch_files, go_files, i = [], [], 0
    while i < len(argv):
        if argv[i] == "--go":
            go_files.append(argv[i + 1]); i += 2
        else:
            torch_files.append(argv[i]); i += 1
    torch, passes, width = {}, {}, 1.0
    for f in torch_files:
        for line in open(f):
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            k = (r["work"], r["batch"])
            torch[k] = min(torch.get(k, float("inf")), r["ms_per_image"])
            if "passes" in r:
                passes["PyTorch"] = r["passes"]
            width = r.get("width_mult", 1.0)
    pat = re.compile(r"^Benchmark(Forward|SideBySide)/(?:nsfwjs-mobilenetv2/)?(?:([^/]+)/)?batch=(\d+)\S*\s.*?([\d.]+) ms/image")
    gos = []
    names = [f.rsplit("/", 1)[-1].removesuffix(".txt") for f in go_files]
    for name, f in zip(names, go_files):
        vals = {}
        for line in open(f):
            if p := re.search(r"([\d.]+) passes/image", line):
                passes[name] = float(p.group(1))
            m = pat.match(line)
            if not m:
                continue
            work = "forward" if m.group(1) == "Forward" else m.group(2)
            vals.setdefault((work, int(m.group(3))), []).append(float(m.group(4)))
        gos.append({k: statistics.median(v) for k, v in vals.items()})
    head = "| work | batch | PyTorch ms/image | " + " | ".join(f"{n} ms/image | {n}/PyTorch" for n in names) + " |"
    print(head)
    print("|" + "---|" * (3 + 2 * len(names)))
    order = ["forward", "gradcam", "gradcam++", "layercam", "scorecam"]
    keys = sorted({k for g in gos for k in g} | set(torch), key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
    for k in keys:
        if k[0] not in order:
            continue
        t = torch.get(k)
        row = [k[0], str(k[1]), f"{t:.1f}" if t else "–"]
        for g in gos:
            v = g.get(k)
            row.append(f"{v:.1f}" if v else "–")
            row.append(f"{v / t:.2f}" if v and t else "–")
        print("| " + " | ".join(row) + " |")
    print()
    print(f"PyTorch: torchvision mobilenet_v2(width_mult={width}); tbviz: the nsfwjs MobileNetV2 (alpha 1.4).")
    if passes:
        print("Score-CAM masked forward passes per image: " + ", ".join(f"{k} {v:.0f}" for k, v in passes.items()) + ".")
    print("Goals (issues 3, 4): pure Go within 2x of PyTorch and OpenBLAS no slower for the")
    print("forward pass and Grad-CAM; Score-CAM at least 2x faster than torchcam's (ratio <= 0.5).")

if __name__ == "__main__":
    main(sys.argv[1:])
