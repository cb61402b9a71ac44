#!/usr/bin/python3
"""export_torchvision.py — write a torchvision model's state_dict as safetensors, for `blasto convert`.

What it is: the bridge from a PyTorch `.pth` file (pickled, so unreadable without torch) to safetensors, which
blasto reads. Keys, dtypes and shapes are written VERBATIM — renaming (DenseNet's old `norm.1` keys), dropping
`num_batches_tracked` and checking against the architecture are `blasto convert`'s job, in C, where they are
tested. What it is not: a converter to blasto's format, or a downloader (docs/weights.md says where weights come
from). It needs Debian's /usr/bin/python3 with python3-torch and python3-torchvision, NOT the `safetensors` package:
the format is written here (8-byte little-endian header length, JSON header padded with spaces to a multiple of 8,
raw little-endian tensor bytes in insertion order).

Usage:
  /usr/bin/python3 tools/export_torchvision.py --arch resnet50 --pth resnet50-0676ba61.pth resnet50-tv.safetensors
  /usr/bin/python3 tools/export_torchvision.py --arch densenet121 --random --seed 7 d121-random.safetensors
  ... [--reference-input X.safetensors --reference-output Y.safetensors [--batch 2] [--size 224]]

  --pth FILE    a torchvision state_dict (or a checkpoint dict holding one under "state_dict" / "model"); it is
                loaded with weights_only=True (no pickled code runs) and must fit torchvision's --arch exactly
                (after DenseNet's documented key renaming), else the script stops with the mismatch.
  --random      torchvision's own initialisation (weights=None) with non-trivial BatchNorm: running statistics
                measured on one random batch (train mode), then perturbed; BN weight/bias and zero biases
                randomised. For tests: every tensor matters and activations stay O(1) through the depth.
  --reference-input/--reference-output  also write a deterministic input `input` [batch,3,size,size]
                (standard normal, seed + 1) and torchvision's float32 eval-mode logits `output` [batch,1000] for it,
                so that `blasto infer` on the converted weights can be checked with `blasto diff`.
"""
import argparse
import json
import os
import re
import struct
import sys

EXPORTER = "tools/export_torchvision.py"

# torch dtype name → (safetensors dtype, bytes per element)
_DTYPES = {
    "torch.float64": ("F64", 8), "torch.float32": ("F32", 4), "torch.float16": ("F16", 2),
    "torch.bfloat16": ("BF16", 2), "torch.int64": ("I64", 8), "torch.int32": ("I32", 4),
    "torch.int16": ("I16", 2), "torch.int8": ("I8", 1), "torch.uint8": ("U8", 1), "torch.bool": ("BOOL", 1),
}

# torchvision's DenseNet `_load_state_dict` rule: "…denselayerN.norm.1.weight" → "…denselayerN.norm1.weight"
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def tensor_bytes(tensor):
    """(safetensors dtype, shape list, little-endian C-order bytes) of a torch tensor."""
    import torch
    dtype, _ = _DTYPES[str(tensor.dtype)]
    t = tensor.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: same 16 bits viewed as int16
        t = t.view(torch.int16)
    array = t.numpy()
    if sys.byteorder != "little":
        array = array.byteswap()
    return dtype, list(tensor.shape), array.tobytes()


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, torch tensor) in the order to write; metadata: dict of str → str."""
    write_safetensors_raw(path, [(name,) + tensor_bytes(tensor) for name, tensor in tensors], metadata)


def write_safetensors_raw(path, items, metadata):
    """items: list of (name, safetensors dtype, shape list, little-endian C-order bytes); metadata: str → str.
    Writes path atomically (temp file + rename). Also used by tools/export_keras_h5.py (no torch there)."""
    header, offset = {}, 0
    for name, dtype, shape, data in items:
        if name in header:
            raise ValueError("duplicate tensor name " + name)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise TypeError("metadata values must be strings: " + key)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, data in items:
            f.write(data)
    os.replace(tmp, path)


def load_pth(path):
    """The state_dict held by a .pth file (plain, or under "state_dict"/"model" of a training checkpoint)."""
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        sys.exit("export_torchvision.py: %s: not a state_dict (expected a dict of tensors)" % path)
    return obj


def check_fits(model, state_dict, path):
    """Stop with the mismatch unless state_dict loads strictly into torchvision's model (after DenseNet renaming)."""
    renamed = {}
    for key, value in state_dict.items():
        m = _DENSENET_OLD_KEY.match(key)
        renamed[m.group(1) + m.group(2) if m else key] = value
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as e:
        sys.exit("export_torchvision.py: %s does not fit torchvision's model:\n%s" % (path, e))


def randomise(model, seed):
    """Non-trivial BatchNorm and biases on top of torchvision's initialisation (see --random)."""
    import torch
    torch.manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.weight.uniform_(0.75, 1.25)
            m.bias.uniform_(-0.1, 0.1)
        for name, p in model.named_parameters():
            if name.endswith(".bias") and not any(p is m.bias for m in norms) and not p.any():
                p.uniform_(-0.1, 0.1)
        if norms:  # running statistics = one random batch's (cumulative average over one batch), then perturbed
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
            model.train()
            model(torch.randn(4, 3, 96, 96))
            for m in norms:
                m.momentum = 0.1
                m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
                m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn_like(m.running_mean))
    model.eval()


def main():
    parser = argparse.ArgumentParser(description="Export a torchvision state_dict to safetensors for blasto convert.")
    parser.add_argument("--arch", required=True, choices=["vgg16", "resnet50", "densenet121"])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pth", help="torchvision .pth state_dict")
    source.add_argument("--random", action="store_true", help="weights=None plus randomised BatchNorm (tests)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random and the reference input")
    parser.add_argument("--reference-input", help="also write a deterministic input here (tensor `input`)")
    parser.add_argument("--reference-output", help="and torchvision's logits for it here (tensor `output`)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("out", help="OUT.safetensors")
    args = parser.parse_args()
    if bool(args.reference_input) != bool(args.reference_output):
        parser.error("--reference-input and --reference-output go together")

    import torch
    import torchvision
    model = getattr(torchvision.models, args.arch)(weights=None)
    if args.pth:
        state_dict = load_pth(args.pth)
        check_fits(model, state_dict, args.pth)
        origin = os.path.basename(args.pth)
    else:
        randomise(model, args.seed)
        state_dict = model.state_dict()
        origin = "random (weights=None, randomised BatchNorm), seed %d" % args.seed
    metadata = {"arch": args.arch, "exporter": EXPORTER, "origin": origin, "torch_version": torch.__version__,
                "torchvision_version": torchvision.__version__}
    write_safetensors(args.out, list(state_dict.items()), metadata)
    count = sum(t.numel() for t in state_dict.values())
    print("wrote %s: %s, %d tensors, %d elements (%s)" % (args.out, args.arch, len(state_dict), count, origin))

    if args.reference_input:
        model.eval()
        generator = torch.Generator().manual_seed(args.seed + 1)
        x = torch.randn(args.batch, 3, args.size, args.size, generator=generator, dtype=torch.float32)
        with torch.no_grad():
            y = model(x).to(torch.float32)
        meta = {"exporter": EXPORTER, "model": args.arch, "origin": origin, "torch_version": torch.__version__}
        write_safetensors(args.reference_input, [("input", x)], meta)
        write_safetensors(args.reference_output, [("output", y)], meta)
        print("wrote %s (input %s) and %s (torchvision eval-mode logits %s)" %
              (args.reference_input, list(x.shape), args.reference_output, list(y.shape)))


if __name__ == "__main__":
    main()
