"""Program search as its own evaluation stage: a level-wise enumeration engine on the device over many tasks at
once (``engine.py``), with task packing by canvas size (``pack.py``), state hashing and semantic dedupe
(``hashing.py``), batched expansion by the DSL primitives (``expand.py``), and the candidate source the
evaluator calls (``source.py``). The primitives themselves live in ``topas_lit.modules.dsl``."""
