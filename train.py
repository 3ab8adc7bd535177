"""Entry point: python train.py [overrides]   e.g. python train.py +experiment=ttt logger=csv

Bad config or (with ``strict: true``) bad data ends the run with one line ``error: <cause>`` and exit code 2.
"""
import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from topas_lit.config_check import validate
    from topas_lit.data.tasks import TaskError
    from topas_lit.errors import ConfigError
    from topas_lit.quiet import quiet_output
    from topas_lit.run import run

    quiet_output()              # each log line once (Hydra's handlers), no third-party deprecation noise

    try:
        validate(cfg)
        run(cfg)
    except (ConfigError, TaskError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
