"""Per-layer cost of frame interaction, as ratios to plain scaled-dot-product attention.

    OMP_NUM_THREADS=1 python benchmarks/attention.py --quick     # < 1 minute on a CPU
    python benchmarks/attention.py                                # SD 1.5's largest layer and the miniature's, 8 frames
    python benchmarks/attention.py --write-results                # also replace its table in benchmarks/RESULTS.md

Goal (issue #14): RVM + DSF <= 2x plain attention on the CPU at SD 1.5's largest layer (4096 tokens,
8 frames, guidance) and at the miniature's layers; DSF's extra memory linear in tokens.

Times the attention core of one self-attention layer (``(B, heads, N, d)`` in, same out; the
projections are the same for every mode and left out) with classifier-free guidance, ``B = 2F``.
Peak memory is *measured*: on a GPU with ``torch.cuda.max_memory_allocated``; on the CPU as the
rise of the process's peak resident set (Linux ``VmHWM``, reset before each call through
``/proc/self/clear_refs``) over the resident set before the call. Large tensors are
``mmap``-ed by the allocator (glibc's threshold is pinned to 64 KiB) and returned when freed, so this
is the peak of live temporaries plus the output; it includes allocator noise of a few MB, so ratios
of tiny layers mean little. That setting makes every large temporary cost fresh page faults (it
doubled RVM + DSF's time at SD 1.5's largest layer), so all memory is measured first and the times
after it, with glibc's thresholds set to what a long-running process reaches.
"""
from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from direct2v.attention import sparse_causal_attention, value_mapping_attention
from direct2v.runtime import pick_device, pick_dtype

PHI = 0.05  # the DSF quantile of the book's examples


def variants(frames):
    ref = min(3, frames - 1)
    return {
        "plain SDPA": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        "cross_frame": lambda q, k, v: value_mapping_attention(q, k, v, 0, frames),
        "sparse_causal": lambda q, k, v: sparse_causal_attention(q, k, v, frames),
        "rvm": lambda q, k, v: value_mapping_attention(q, k, v, ref, frames),
        "rvm+DSF (auto)": lambda q, k, v: value_mapping_attention(q, k, v, ref, frames, dsf_quantile=PHI),
        "rvm+DSF (chunked)": lambda q, k, v: value_mapping_attention(q, k, v, ref, frames, dsf_quantile=PHI,
                                                                     dsf_method="chunked"),
        "rvm+DSF (dense)": lambda q, k, v: value_mapping_attention(q, k, v, ref, frames, dsf_quantile=PHI,
                                                                   dsf_method="dense"),
    }


def _rss_kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def _mallopt(threshold, trim):
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, threshold)  # M_MMAP_THRESHOLD, fixed from now on (not adaptive)
        libc.mallopt(-1, trim)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _mmap_every_large_allocation():
    """Make glibc return freed tensors to the system at once, so the resident-set peak sees them come and go."""
    _mallopt(1 << 16, 1 << 17)


def _keep_large_allocations():
    """Undo :func:`_mmap_every_large_allocation` for timing: glibc's thresholds as a long-running process
    reaches them (32 MiB mmap threshold, twice that kept on the heap), so temporaries reuse warm pages."""
    _mallopt(32 << 20, 64 << 20)


def peak_extra_bytes(fn, q, k, v):
    """Peak bytes allocated by one call beyond what was live before it (see module docstring)."""
    if q.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn(q, k, v)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return math.nan
    before = _rss_kb("VmRSS")
    out = fn(q, k, v)
    peak = _rss_kb("VmHWM")
    del out
    return (peak - before) * 1024


def seconds(fn, q, k, v, repeats):
    times = []
    for _ in range(repeats):
        if q.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(q, k, v)
        if q.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)  # the least disturbed run: other processes only ever add time


def qkv(b, heads, n, d, device, dtype, generator=None):
    """A (B, heads, N, d) tensor in the memory layout diffusers' processors produce: (B, N, heads, d)."""
    return torch.randn(b, n, heads, d, generator=generator, device=device, dtype=dtype).transpose(1, 2)


def dense_bytes(b, heads, n):
    return 3 * b * heads * n * n * 4  # scores, row and column softmax in fp32


def bench(name, frames, n, channels, heads, device, dtype, measure, dense_limit, chunked_limit=1024):
    """``measure(fn, q, k, v)`` for every variant at one layer: ``{label: value, or why it was skipped}``."""
    b, d = 2 * frames, channels // heads
    g = torch.Generator(device).manual_seed(0)
    q, k, v = (qkv(b, heads, n, d, device, dtype, g) for _ in range(3))
    out = {}
    for label, fn in variants(frames).items():
        if "dense" in label and dense_bytes(b, heads, n) > dense_limit:
            out[label] = f"skipped: needs {dense_bytes(b, heads, n) / 2**30:.0f} GiB"
        elif "chunked" in label and n > chunked_limit:
            out[label] = "skipped: minutes at this size (about 10x plain)"
        else:
            with torch.no_grad():
                out[label] = measure(fn, q, k, v)
    return out


def rows_of(name, frames, n, times, memory):
    rows, base_t, base_m = [], None, None
    for label, t in times.items():
        if isinstance(t, str):
            rows.append((name, frames, n, label, None, None, t))
            continue
        m = memory[label]
        if base_t is None:
            base_t, base_m = t, m
        rows.append((name, frames, n, label, t / base_t, m / base_m if base_m > 0 else None,
                     f"{t * 1e3:.2f} ms, {m / 2**20:.1f} MiB"))
    return rows


def table(rows):
    lines = ["| layer | F | tokens | mode | time / plain | peak extra memory / plain | absolute |",
             "|---|---|---|---|---|---|---|"]
    for name, frames, n, label, tr, mr, absolute in rows:
        fmt = (lambda x: "—" if x is None else f"{x:.2f}x")
        lines.append(f"| {name} | {frames} | {n} | {label} | {fmt(tr)} | {fmt(mr)} | {absolute} |")
    return "\n".join(lines)


def sweep(device, dtype, tokens, frames=2, channels=320, heads=8):
    """DSF's extra memory against the number of tokens: linear for the blocked and chunked paths."""
    lines = ["| tokens | plain SDPA | rvm+DSF (auto) | rvm+DSF (chunked) | dense scores would need |",
             "|---|---|---|---|---|"]
    for n in tokens:
        b, d = 2 * frames, channels // heads
        q, k, v = (qkv(b, heads, n, d, device, dtype) for _ in range(3))
        fns = variants(frames)
        with torch.no_grad():
            mem = [peak_extra_bytes(fns[key], q, k, v) / 2**20 if key != "rvm+DSF (chunked)" or n <= 4096 else math.nan
                   for key in ("plain SDPA", "rvm+DSF (auto)", "rvm+DSF (chunked)")]
        lines.append(f"| {n} | " + " | ".join("—" if math.isnan(x) else f"{x:.1f} MiB" for x in mem)
                     + f" | {dense_bytes(b, heads, n) / 2**20:.0f} MiB |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute on a CPU")
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--write-results", action="store_true", help="replace this table in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    dtype = pick_dtype(device)
    repeats = args.repeats or 2
    sd_tokens = 1024 if args.quick else 4096  # quick: SD 1.5's channels and heads at a 32x32 latent
    dense_limit = 2**30 if args.quick else 8 * 2**30
    chunked_limit = 1024 if device.type == "cpu" else 4096
    # SD 1.5's largest layer, then the miniature's three levels (direct2v.miniature.model.unet_config)
    layers = [("SD 1.5 largest, 320 ch, 8 heads", 2 if args.quick else 8, sd_tokens, 320, 8, repeats,
               chunked_limit),
              ("miniature 16x16, 64 ch", 8, 256, 64, 4, repeats, 1024),
              ("miniature 8x8, 128 ch", 8, 64, 128, 4, repeats * 5, 1024),
              ("miniature 4x4, 128 ch", 8, 16, 128, 4, repeats * 5, 1024)]
    sizes = (256, 512, 1024) if args.quick else (256, 1024, 4096, 9216)
    # memory first, with every large temporary mmap-ed; then times, with the allocator as users have it
    _mmap_every_large_allocation()
    memory = [bench(name, f, n, c, h, device, dtype, peak_extra_bytes, dense_limit, limit)
              for name, f, n, c, h, _, limit in layers]
    memory_sweep = sweep(device, dtype, sizes)
    _keep_large_allocations()

    def timed(r):
        def measure(fn, q, k, v):
            fn(q, k, v)  # warm-up
            return seconds(fn, q, k, v, r)
        return measure

    rows = []
    for (name, f, n, c, h, r, limit), mem in zip(layers, memory):
        rows += rows_of(name, f, n, bench(name, f, n, c, h, device, dtype, timed(r), dense_limit, limit), mem)
    header = (f"device: {device}, dtype: {dtype}, threads: {torch.get_num_threads()}, DSF quantile {PHI}, "
              f"best of {repeats}; goal: rvm+DSF (auto) <= 2x plain")
    text = (f"{header}\n\n{table(rows)}\n\nDSF extra memory against tokens (F=2 with guidance, 320 channels, "
            f"8 heads):\n\n{memory_sweep}")
    print(text)
    if args.write_results:
        from results import write_section
        write_section(f"attention-{device.type}{'-quick' if args.quick else ''}",
                      f"Attention layer ({device.type}{', quick sizes' if args.quick else ''})", text, device)


if __name__ == "__main__":
    main()
