import numpy as np
import pytest
from sklearn import metrics as skm

from qc_engine.metrics import classification_metrics, confusion_matrix, top_k_accuracy


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    num_classes, n = 7, 300
    labels = rng.integers(0, num_classes, n)
    logits = rng.normal(size=(n, num_classes)) + 2.0 * np.eye(num_classes)[labels] * rng.random((n, 1))
    preds = logits.argmax(1)
    m = classification_metrics(logits, labels)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(labels, preds))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(labels, preds, average="macro"))
    assert m["top5_accuracy"] == pytest.approx(skm.top_k_accuracy_score(labels, logits, k=5, labels=range(num_classes)))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert m["loss"] == pytest.approx(skm.log_loss(labels, probs, labels=range(num_classes)), rel=1e-9)
    assert np.array_equal(np.array(m["confusion_matrix"]), skm.confusion_matrix(labels, preds, labels=range(num_classes)))
    p, r, f, s = skm.precision_recall_fscore_support(labels, preds, labels=range(num_classes), zero_division=0)
    for i in range(num_classes):
        pc = m["per_class"][str(i)]
        assert (pc["precision"], pc["recall"], pc["f1"], pc["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert m["num_samples"] == n


def test_macro_f1_ignores_classes_absent_from_labels_and_predictions():
    labels = np.array([0, 0, 1, 1])
    logits = np.eye(4)[[0, 1, 1, 1]]
    m = classification_metrics(logits, labels)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(labels, logits.argmax(1), average="macro"))


def test_top_k_and_confusion_matrix_small_cases():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert top_k_accuracy(logits, np.array([0, 2]), k=1) == 0.0
    assert top_k_accuracy(logits, np.array([0, 2]), k=2) == 0.5
    assert top_k_accuracy(logits, np.array([0, 2]), k=5) == 1.0  # k capped at the class count
    assert confusion_matrix(np.array([0, 1, 1]), np.array([1, 1, 0]), 2).tolist() == [[0, 1], [1, 1]]
