"""The training run learns physics: a small teacher separates W from gluon jets made by the generator."""

from raysym.data.jetset import split
from raysym.training import TrainConfig, train


def test_small_teacher_reaches_val_auc_above_085_on_generated_g_vs_w(generated_g_w_jets):
    parts = split(generated_g_w_jets.for_task("g_vs_w"), seed=0)
    config = TrainConfig(model="teacher", model_preset="small", epochs=8, batch_size=64, seed=0)
    result = train(config, parts)
    best = result.history[result.best_epoch - 1]
    assert best["val_roc_auc"] > 0.85, [round(h["val_roc_auc"], 3) for h in result.history]
    # Learning, not luck: the first epoch is clearly worse than the best.
    assert result.history[0]["val_loss"] > best["val_loss"]
