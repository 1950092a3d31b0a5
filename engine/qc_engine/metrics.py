"""Classification metrics as pure functions on numpy arrays (reused by evaluation tools)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """[true, predicted] counts."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return matrix


def per_class_prf(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined, like scikit-learn's zero_division=0)."""
    tp = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    if len(labels) == 0:
        return float("nan")
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(axis=1).mean())


def mean_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return float("nan")
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), np.asarray(labels)].mean())


def classification_metrics(logits: np.ndarray, labels: np.ndarray, class_names: list[str] | None = None,
                           detailed: bool = True) -> dict:
    """accuracy, top5_accuracy, macro_f1, loss (+ per_class and confusion_matrix when detailed).

    macro_f1 averages over classes present in labels or predictions (scikit-learn's default labels).
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = logits.shape[1]
    preds = logits.argmax(axis=1)
    matrix = confusion_matrix(labels, preds, num_classes)
    prf = per_class_prf(matrix)
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    result = {
        "accuracy": float((preds == labels).mean()) if len(labels) else float("nan"),
        "top5_accuracy": top_k_accuracy(logits, labels, 5),
        "macro_f1": float(prf["f1"][present].mean()) if present.any() else float("nan"),
        "loss": mean_cross_entropy(logits, labels),
        "num_samples": int(len(labels)),
    }
    if detailed:
        names = class_names or [str(i) for i in range(num_classes)]
        result["per_class"] = {
            names[i]: {
                "precision": float(prf["precision"][i]),
                "recall": float(prf["recall"][i]),
                "f1": float(prf["f1"][i]),
                "support": int(prf["support"][i]),
            }
            for i in range(num_classes)
        }
        result["confusion_matrix"] = matrix.tolist()
    return result


SCALAR_METRICS = ("accuracy", "top5_accuracy", "macro_f1", "loss")


def scalar_metrics(metrics: dict) -> dict:
    return {k: metrics[k] for k in SCALAR_METRICS if k in metrics}
