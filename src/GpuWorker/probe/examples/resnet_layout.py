"""torchvision ResNet-18 in NCHW or channels_last memory format, as a Magneton workload: a layout pair.

    magneton capture --system resnet18-nchw --out A -- python examples/resnet_layout.py --memory-format contiguous
    magneton capture --system resnet18-nhwc --out B -- python examples/resnet_layout.py --memory-format channels_last
    magneton compare A B

Both compute the same values (same seed, random weights, no download); the convolutions see the same shapes with
other strides, so Magneton matches the two and names the difference ``layout``. Tiny by default (batch 1, 3x32x32)
so that it runs on a CPU capture (``--device cpu``) in seconds.
"""
import argparse

import torch
import torchvision

import magneton_probe


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memory-format", default="contiguous", choices=["contiguous", "channels_last"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cuda", "cpu"],
                   help="where to run (default: the capture's device, else cuda where there is a GPU)")
    args = p.parse_args()

    device = args.device or magneton_probe.device()
    fmt = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}[args.memory_format]
    torch.manual_seed(args.seed)
    model = torchvision.models.resnet18(weights=None).to(device).eval().to(memory_format=fmt)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=g).to(device).contiguous(memory_format=fmt)
    config = {"model": "torchvision resnet18 random-init", "memory_format": args.memory_format,
              "batch": args.batch, "size": args.size}
    result = magneton_probe.workload(lambda: model(x), model=model, inputs=[x], config=config)
    if not magneton_probe.under_probe():
        print("ran once without the probe: logits", tuple(result.shape))


if __name__ == "__main__":
    main()
