"""A whole study: its typed config (:mod:`.config`), named presets (:mod:`.presets`), the pipeline of
stages (:mod:`.pipeline`) and the end-of-study table (:mod:`.summary`).

``run_study(config, out_dir)`` is what ``studies/full.py`` calls: jets → Tune grid of biases × seeds →
best models → evaluation and analysis fan-outs → the Parquet result store.
"""
