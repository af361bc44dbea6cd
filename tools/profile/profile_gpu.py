#!/usr/bin/env python3
"""tokenfleet's GPU profiling kit: times the kernels of a Llama-shaped layer on the GPU at hand and writes the CSV
that `[cost] profile = "file.csv"` loads (cluster/profile.hpp gives the format and how it is fitted).

    python3 tools/profile/profile_gpu.py --gpu h100-sxm --dtype bf16 --out h100-bf16.csv [--quick]

PyTorch only, random weights, no downloads. It times:
  gemm               the QKV, output, gate+up and down GEMMs of Llama-3.1-8B and -70B shapes (per GPU at TP 1, 2,
                     4, 8) at M = 1 ... 16384 tokens
  attention_prefill  causal attention over one prompt of 512 ... 16384 tokens (torch's scaled_dot_product_attention,
                     which runs flash attention on recent GPUs)
  attention_decode   one query per request over a KV cache of 512 ... 32768 tokens, batches 1 ... 256
  allreduce          torch.distributed all_reduce of 64 KiB ... 256 MiB over the GPUs present (run it with torchrun
                     --nproc_per_node N to measure N GPUs; skipped on one)
  layer              a whole Llama-3.1-8B-shaped layer (attention + MLP) at several token counts, for checking
Each time is the median of --repeats runs after --warmup, measured with CUDA events.
--gpu must be the tokenfleet catalogue name of the GPU measured (tokenfleet catalog lists them): the simulator
refuses a profile measured on another GPU or in another dtype.
"""
import argparse
import csv
import os
import statistics
import sys

HEADER = ["gpu", "dtype", "op", "m", "n", "k", "heads", "kv_heads", "head_dim", "context", "batch", "seconds"]


def timed(fn, warmup, repeats):
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def torch_dtype(name):
    import torch
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp8": torch.float8_e4m3fn}[name]


def gemm_rows(args, dev):
    import torch
    dt = torch_dtype(args.dtype)
    shapes = set()
    for d, heads, kv, ffn in ((4096, 32, 8, 14336), (8192, 64, 8, 28672)):
        for tp in (1, 2, 4, 8):
            shapes.add(((heads + 2 * kv) * 128 // tp, d))  # QKV: N x K
            shapes.add((d, heads * 128 // tp))             # output
            shapes.add((2 * ffn // tp, d))                 # gate + up
            shapes.add((d, ffn // tp))                     # down
    ms = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
    if args.quick:
        ms = [1, 16, 256, 4096]
        shapes = sorted(shapes)[:4]
    for n, k in sorted(shapes):
        if args.dtype == "fp8":
            w = torch.randn(n, k, device=dev).to(dt)
        else:
            w = torch.randn(n, k, device=dev, dtype=dt)
        for m in ms:
            if args.dtype == "fp8":
                x = torch.randn(m, k, device=dev).to(dt)
                one = torch.tensor(1.0, device=dev)
                fn = lambda: torch._scaled_mm(x, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            else:
                x = torch.randn(m, k, device=dev, dtype=dt)
                fn = lambda: torch.matmul(x, w.t())
            yield ["gemm", m, n, k, 0, 0, 0, 0, 0, timed(fn, args.warmup, args.repeats)]


def attention_rows(args, dev):
    import torch
    import torch.nn.functional as F
    dt = torch.bfloat16 if args.dtype == "fp8" else torch_dtype(args.dtype)
    heads, kv_heads, hd = 32, 8, 128
    for ctx in ([512, 2048] if args.quick else [512, 1024, 2048, 4096, 8192, 16384]):
        q = torch.randn(1, heads, ctx, hd, device=dev, dtype=dt)
        k = torch.randn(1, heads, ctx, hd, device=dev, dtype=dt)  # KV heads repeated to the query heads
        v = torch.randn(1, heads, ctx, hd, device=dev, dtype=dt)
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
        yield ["attention_prefill", 0, 0, 0, heads, kv_heads, hd, ctx, 1, timed(fn, args.warmup, args.repeats)]
    for ctx in ([1024, 8192] if args.quick else [512, 2048, 8192, 32768]):
        for batch in ([1, 64] if args.quick else [1, 8, 64, 256]):
            if batch * ctx > 4 * 1024 * 1024:
                continue
            group = heads // kv_heads
            q = torch.randn(batch, kv_heads, group, hd, device=dev, dtype=dt)
            k = torch.randn(batch, kv_heads, ctx, hd, device=dev, dtype=dt)
            v = torch.randn(batch, kv_heads, ctx, hd, device=dev, dtype=dt)
            fn = lambda: F.scaled_dot_product_attention(q, k, v)
            yield ["attention_decode", 0, 0, 0, heads, kv_heads, hd, ctx, batch, timed(fn, args.warmup, args.repeats)]


def allreduce_rows(args, dev):
    import torch
    import torch.distributed as dist
    if not dist.is_initialized():
        return
    world = dist.get_world_size()
    for size in ([1 << 16, 1 << 24] if args.quick else [1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28]):
        x = torch.randn(size // 2, device=dev, dtype=torch.bfloat16)
        fn = lambda: dist.all_reduce(x)
        yield ["allreduce", 0, size, world, 0, 0, 0, 0, 0, timed(fn, args.warmup, args.repeats)]


def layer_rows(args, dev):
    import torch
    import torch.nn.functional as F
    dt = torch.bfloat16 if args.dtype == "fp8" else torch_dtype(args.dtype)
    d, heads, kv, hd, ffn = 4096, 32, 8, 128, 14336
    wqkv = torch.randn((heads + 2 * kv) * hd, d, device=dev, dtype=dt) * 0.01
    wo = torch.randn(d, heads * hd, device=dev, dtype=dt) * 0.01
    wup = torch.randn(2 * ffn, d, device=dev, dtype=dt) * 0.01
    wdown = torch.randn(d, ffn, device=dev, dtype=dt) * 0.01
    for tokens in ([256] if args.quick else [1, 64, 256, 1024, 4096]):
        x = torch.randn(tokens, d, device=dev, dtype=dt)

        def layer():
            qkv = x @ wqkv.t()
            q = qkv[:, : heads * hd].view(1, tokens, heads, hd).transpose(1, 2)
            k = qkv[:, heads * hd: (heads + kv) * hd].view(1, tokens, kv, hd).transpose(1, 2)
            v = qkv[:, (heads + kv) * hd:].view(1, tokens, kv, hd).transpose(1, 2)
            k = k.repeat_interleave(heads // kv, dim=1)
            v = v.repeat_interleave(heads // kv, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(tokens, heads * hd)
            h = x + a @ wo.t()
            gate, up = (h @ wup.t()).chunk(2, dim=-1)
            return h + (F.silu(gate) * up) @ wdown.t()

        yield ["layer", tokens, 0, 0, heads, kv, hd, tokens, 1, timed(layer, args.warmup, args.repeats)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpu", required=True, help="the tokenfleet catalogue name of this GPU, e.g. h100-sxm")
    p.add_argument("--dtype", default="bf16", choices=["fp16", "bf16", "fp8"])
    p.add_argument("--out", required=True, help="the CSV to write")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="a few shapes of each kind (minutes to seconds)")
    args = p.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("profile_gpu.py: no CUDA device")
    rank = int(os.environ.get("RANK", "0"))
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dev = torch.device("cuda")
    torch.manual_seed(0)
    rows = []
    for gen in (gemm_rows, attention_rows, allreduce_rows, layer_rows):
        if rank != 0 and gen is not allreduce_rows:
            continue
        for r in gen(args, dev):
            rows.append([args.gpu, args.dtype] + r)
            if rank == 0:
                print(",".join(str(x) for x in rows[-1]), flush=True)
    if rank == 0:
        tmp = args.out + ".tmp"
        with open(tmp, "w", newline="") as f:
            f.write(f"# tokenfleet GPU profile: {torch.cuda.get_device_name()} ({args.gpu}), {args.dtype}, "
                    f"torch {torch.__version__}, CUDA {torch.version.cuda}\n")
            w = csv.writer(f)
            w.writerow(HEADER)
            w.writerows(rows)
        os.replace(tmp, args.out)  # never a half-written profile that looks complete
        print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
