#!/usr/bin/python3
"""pytorch_models.py — PyTorch CPU twin of `blasto bench infer|train`, for tools/bench/models_vs_pytorch.sh.

The same workload as tools/cli/bench_models.c: a torchvision model built with weights=None (its own random init; speed
does not depend on the values), the ImageNet head, input uniform in [-1, 1) of shape [N,3,S,S].
  infer: model.eval(), torch.no_grad(): one forward per step.
  train: model.train() (BN batch statistics, dropout on), logits.backward(R) for a fixed random R [N,1000] in
         [-1/N, 1/N) (= backward of L = sum(R*logits), no loss op), SGD(lr 1e-4, momentum 0.9).step(), zero_grad().
--layout nchw keeps torch's default contiguous layout; channels_last converts the model and the input with
memory_format=torch.channels_last (oneDNN's preferred layout on CPU). The thread count is set with
torch.set_num_threads (and 1 inter-op thread); call it with OMP_NUM_THREADS set to the same number.

Output (the format of `blasto bench`): '#' header lines, one "step i of R: T s  X img/s" line per timed step,
"peak RSS: M MiB" (getrusage of this process, including torch's own ~300 MB) and last "img/s: <median>".

--device cuda (tools/gpu_check.sh) runs the same workload on the GPU: model and input moved to "cuda", the step
timed between torch.cuda.synchronize() calls (the work is asynchronous), cuDNN in its default heuristic mode
(torch.backends.cudnn.benchmark False, as blasto's heuristic choice), fp32 with TF32 off unless --tf32 (which sets
torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32), and "peak GPU memory: M MiB" from
torch.cuda.max_memory_allocated (the caching allocator's peak of live tensors and cuDNN workspaces; the CUDA
context itself is not counted — nor is it on blasto's side).

Run with Debian's interpreter: /usr/bin/python3 (torch 1.13, torchvision 0.14); on the GPU machine, its python3.
"""
import argparse
import re
import resource
import statistics
import sys
import time

import torch
import torchvision


def cpu_capability():
    """ATen's SIMD level (AVX2, AVX512, …) as torch's build summary reports it."""
    found = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return found.group(1) if found else "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["infer", "train"])
    parser.add_argument("--arch", required=True, choices=["vgg16", "resnet50", "densenet121"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layout", choices=["nchw", "channels_last"], default="nchw")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--tf32", action="store_true", help="cuda: allow TF32 in matmul and cuDNN (default: off)")
    args = parser.parse_args()
    if args.batch < 1 or args.size < 32 or args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("need batch >= 1, size >= 32, repeats >= 1, warmup >= 0, threads >= 1")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cuda = args.device == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            sys.exit("pytorch_models: --device cuda: torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = False
    training = args.mode == "train"
    generator = torch.Generator().manual_seed(1)
    model = getattr(torchvision.models, args.arch)(weights=None)
    model.train(training)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=generator) * 2 - 1
    loss_weights = (torch.rand(args.batch, 1000, generator=generator) * 2 - 1) / args.batch
    if args.layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if cuda:
        model = model.to("cuda")
        x = x.to("cuda")
        loss_weights = loss_weights.to("cuda")
        torch.cuda.reset_peak_memory_stats()
    sgd = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9) if training else None

    print(f"# pytorch {torch.__version__} torchvision {torchvision.__version__} bench {args.mode}: arch {args.arch}, "
          f"batch {args.batch}, size {args.size}x{args.size}, layout {args.layout}, threads {torch.get_num_threads()}, "
          f"cpu capability {cpu_capability()}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"warmup {args.warmup}, repeats {args.repeats}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()}, cudnn {torch.backends.cudnn.version()}, tf32 {args.tf32})" if cuda else ""))

    def step():
        if training:
            logits = model(x)
            logits.backward(loss_weights)
            sgd.step()
            sgd.zero_grad()
        else:
            with torch.no_grad():
                model(x)

    seconds = []
    for r in range(args.warmup + args.repeats):
        if r < args.warmup:
            print(f"pytorch_models: warm-up step {r + 1} of {args.warmup}", file=sys.stderr)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if r >= args.warmup:
            seconds.append(elapsed)
            print(f"step {len(seconds)} of {args.repeats}: {elapsed:.4f} s  {args.batch / elapsed:.3f} img/s", flush=True)
    median = statistics.median(seconds)
    print(f"time per step: median {median:.4f} s, min {min(seconds):.4f}, max {max(seconds):.4f} "
          f"({len(seconds)} timed steps)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    if cuda:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")
    print(f"img/s: {args.batch / median:.3f}")


if __name__ == "__main__":
    main()
