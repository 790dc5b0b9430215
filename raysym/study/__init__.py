"""A whole study: its typed config (:mod:`.config`), named presets (:mod:`.presets`) and the pipeline of
stages (:mod:`.pipeline`); its figures, report and summary come from :mod:`raysym.report`.

``run_study(config, out_dir)`` is what ``studies/full.py`` calls: jets → Tune grid of biases × seeds →
best models → evaluation and analysis fan-outs → the Parquet result store.
"""
