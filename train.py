"""Entry point: python train.py [overrides]   e.g. python train.py +experiment=ttt logger=csv"""
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from topas_lit.run import run

    run(cfg)


if __name__ == "__main__":
    main()
