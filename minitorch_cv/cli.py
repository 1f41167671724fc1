"""The `minitorch-cv` command line: the only module that reads argv."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_demo(args) -> int:
    """Train a small MLP on two interleaved spirals and print its accuracy."""
    import numpy as np

    from . import functional as F
    from . import layers as nn
    from . import manual_seed, optim, tensor

    manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = 1000
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    y = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    angle = t + np.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1) + rng.normal(0, 0.02, (n, 2))
    x, y = tensor(x.astype(np.float32)), tensor(y)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        for idx in np.array_split(rng.permutation(n), n // 100):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs:
            acc = float((model(x).argmax(1) == y).numpy().mean())
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    print(f"final training accuracy on the spirals: {acc:.1%}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minitorch-cv", description="A from-scratch deep-learning engine for CV.")
    p.add_argument("--version", action="version", version=f"minitorch-cv {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="train a small MLP on a synthetic two-class problem")
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--lr", type=float, default=0.01)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
