"""Figures and the report of a study, made from its result store alone (docs/methods.md §7).

:mod:`.selection` picks one study run's rows out of the store, :mod:`.summaries` turns them into the
numbers the paper reports (per-seed values, means with t intervals over seeds, rejections with their
background counts), :mod:`.statistics` holds the small-sample statistics (paired and Welch t intervals,
Bonferroni, power), :mod:`.verdicts` compares each of the paper's findings with them by a stated rule
(docs/methods.md §8), :mod:`.figures` draws the seaborn
figures (in the one look of :mod:`.drawing`; those over the training trajectory in
:mod:`.trajectory_figures`), :mod:`.document` writes ``report.md`` and a self-contained ``report.html``,
and :mod:`.command` is ``raysym plot`` and ``raysym report``.
"""
