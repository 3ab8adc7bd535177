"""Parameter count per component: python scripts/param_breakdown.py [model=topas_60m] [other overrides]"""
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate


def breakdown(model) -> dict[str, int]:
    return {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}


def main(overrides: list[str]) -> None:
    conf = str(Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    model = instantiate(cfg.model, _convert_="all")
    parts = breakdown(model)
    total = sum(p.numel() for p in model.parameters())
    print(f"model: {cfg.model.d_model=} ({' '.join(overrides) or 'defaults'})")
    for name, n in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:12s} {n:>12,d}  {100 * n / total:5.1f}%")
    print(f"  {'total':12s} {total:>12,d}")


if __name__ == "__main__":
    main(sys.argv[1:])
