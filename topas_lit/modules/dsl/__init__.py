"""GPU-batched ARC DSL: primitives on padded grids, programs, executor and search rails.

Importing the package registers every primitive family in a fixed order (the order fixes op ids).
"""
import importlib

from topas_lit.modules.dsl.registry import PRIMITIVES, DemoTargets, GridBatch, Primitive, apply_primitive

# Families in registration order; a family module that does not exist yet is skipped.
FAMILIES = ("geometry", "scaling", "symmetry", "cropping", "objects", "colour", "painting", "split")
for _family in FAMILIES:
    try:
        importlib.import_module(f"topas_lit.modules.dsl.{_family}")
    except ModuleNotFoundError as _err:  # family not written yet
        if _err.name != f"topas_lit.modules.dsl.{_family}":
            raise

OP_NAMES = [p.name for p in PRIMITIVES]
__all__ = ["PRIMITIVES", "OP_NAMES", "DemoTargets", "GridBatch", "Primitive", "apply_primitive"]
