"""The stages of a study, one module each, in the order a study runs them; each holds its own settings.

- :mod:`raysym.stages.jets` (0): the hls4ml or generated jets, split once (``JetSettings``);
- :mod:`raysym.stages.training` (1): every bias × seed trial as one ``tune.Tuner`` (``TrainingSettings``);
- :mod:`raysym.stages.evaluation` (2): every best model on every task's test jets (``EvaluationSettings``);
- :mod:`raysym.stages.analyses` (3): every registered analysis of every analysed model
  (``AnalysisSettings``; each analysis declared as in :mod:`raysym.stages.analysis_spec`, the built-in ones
  listed in :mod:`raysym.stages.analysis_registry`).

Stages 0, 2 and 3 fan their work out with :func:`raysym.fanout.fan_out`; stage 1 is a Tune run. Every
stage writes through :class:`raysym.store.ResultStore` and skips what the store already holds. The study
(:mod:`raysym.study`) puts them together; no stage imports it.
"""
