"""GPT-2 with a chosen MLP activation, as a Magneton workload: the gpt2-gelu pair of the H100 samples.

    magneton capture --system hf-gpt2-gelu_new --out A -- python examples/gpt2_gelu.py --activation gelu_new
    magneton capture --system hf-gpt2-gelu_pytorch_tanh --out B -- python examples/gpt2_gelu.py --activation gelu_pytorch_tanh
    magneton compare A B

``gelu_new`` is HF's NewGELUActivation (eight elementwise kernels: mul, pow, mul, add, mul, tanh, add, mul);
``gelu_pytorch_tanh`` is one fused ``aten.gelu``. They compute the same values, so Magneton matches the two
activation regions and reports the first as waste. Defaults are the samples' size: 4 layers x 1024, 16 heads,
bf16, batch 8 x 512, random weights (the same in both runs: same seed, and the activation has no parameters).

With HF transformers installed it builds ``GPT2LMHeadModel`` from a ``GPT2Config`` (no download). Without it (or
with ``--builtin``) it builds a small GPT-2 written here in plain torch with the same module paths
(``transformer.h.<i>.mlp.act`` ...) and the same two activations, so the check runs on a machine without
transformers or network.

The model and inputs go where the capture runs (``magneton_probe.device()``: ``--device cpu`` captures on the
CPU, with no GPU energy), or where ``--device`` says when run on its own. Tiny sizes for a CPU check:
``--layers 2 --width 64 --heads 2 --batch 1 --seq 16 --vocab 128 --dtype float32``.
"""
import argparse
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import magneton_probe


class NewGELU(nn.Module):
    """HF's NewGELUActivation (transformers/activations.py): the tanh GELU written out in eight ops."""

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class TanhGELU(nn.Module):
    """HF's PytorchGELUTanh: the same function as one fused kernel."""

    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class Conv1D(nn.Module):
    """GPT-2's transposed linear layer: addmm(bias, x, weight)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size = x.size()[:-1] + (self.weight.size(-1),)
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(3 * d, d)
        self.c_proj = Conv1D(d, d)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (t.view(b, s, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, s, d))


class MLP(nn.Module):
    def __init__(self, d, activation):
        super().__init__()
        self.c_fc = Conv1D(4 * d, d)
        self.act = NewGELU() if activation == "gelu_new" else TanhGELU()
        self.c_proj = Conv1D(d, 4 * d)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads, activation):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = MLP(d, activation)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, vocab, positions, d, heads, layers, activation):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        self.h = nn.ModuleList(Block(d, heads, activation) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class BuiltinGPT2(nn.Module):
    """A GPT-2 in plain torch with HF's module paths (transformer.h.<i>.mlp.act, lm_head)."""

    def __init__(self, vocab, positions, d, heads, layers, activation):
        super().__init__()
        self.transformer = Transformer(vocab, positions, d, heads, layers, activation)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, ids):
        return self.lm_head(self.transformer(ids))


def have_transformers():
    try:
        import transformers  # noqa: F401
        return True
    except Exception:
        return False


def build(args, dtype, device):
    torch.manual_seed(args.seed)
    if not args.builtin and have_transformers():
        from transformers import GPT2Config, GPT2LMHeadModel
        cfg = GPT2Config(n_layer=args.layers, n_embd=args.width, n_head=args.heads, n_positions=1024,
                         vocab_size=args.vocab, activation_function=args.activation, attn_pdrop=0.0,
                         resid_pdrop=0.0, embd_pdrop=0.0)
        try:
            from transformers import AutoModelForCausalLM
            model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
        except Exception:
            torch.manual_seed(args.seed)
            model = GPT2LMHeadModel(cfg)
        model = model.to(device, dtype).eval()
        return model, "transformers", (lambda ids: model(input_ids=ids, use_cache=False).logits)
    model = BuiltinGPT2(args.vocab, 1024, args.width, args.heads, args.layers, args.activation).to(device, dtype).eval()
    return model, "builtin", (lambda ids: model(ids))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activation", default="gelu_new", choices=["gelu_new", "gelu_pytorch_tanh"])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--builtin", action="store_true", help="use the plain-torch GPT-2 even if transformers is there")
    p.add_argument("--device", choices=["cuda", "cpu"],
                   help="where to run (default: the capture's device, else cuda where there is a GPU)")
    args = p.parse_args()

    dtype = getattr(torch, args.dtype)
    device = args.device or magneton_probe.device()
    model, impl, forward = build(args, dtype, device)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=g).to(device)
    config = {"model": "gpt2 %dx%d random-init (%s)" % (args.layers, args.width, impl), "dtype": args.dtype,
              "batch": args.batch, "seq": args.seq, "activation_function": args.activation, "implementation": impl}
    result = magneton_probe.workload(lambda: forward(ids), model=model, inputs=[ids], config=config,
                                     replay_modules=["transformer.h.0.mlp.act", "transformer.h.0.mlp"])
    if not magneton_probe.under_probe():
        print("ran once without the probe: logits", tuple(result.shape), "implementation", impl)


if __name__ == "__main__":
    main()
