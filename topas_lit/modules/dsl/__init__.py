"""GPU-batched ARC DSL: primitives on padded grids, programs, executor and search rails.

Importing the package registers every primitive family in a fixed order (the order fixes op ids).
"""
import importlib

from topas_lit.modules.dsl.registry import PRIMITIVES, DemoTargets, GridBatch, Primitive, apply_primitive

# Families in registration order (the order fixes op ids; checkpoints depend on it).
FAMILIES = ("geometry", "scaling", "symmetry", "cropping", "objects", "colour", "painting", "split", "extraction", "drawing",
            "recolouring", "lookup", "composing", "stamping", "moving", "patterning", "generating", "linking",
            "completing", "nearest", "panelling")
for _family in FAMILIES:
    importlib.import_module(f"topas_lit.modules.dsl.{_family}")

OP_NAMES = [p.name for p in PRIMITIVES]
__all__ = ["PRIMITIVES", "OP_NAMES", "DemoTargets", "GridBatch", "Primitive", "apply_primitive"]
