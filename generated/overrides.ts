// generated — do not edit. Source: schema/config.schema.json; regenerate with `bun run codegen`.
// The override table, read from the x-forced / x-ignored-when annotations of the schema.
// A new forced rule is one schema edit plus `bun run codegen`.

export interface OverrideRule {
  /** dotted option path that the rule acts on */
  path: string;
  /** the rule applies when every path here has exactly this value (after file and --set) */
  when: Record<string, unknown>;
  /** the value forced (kind "forced" only) */
  value?: unknown;
  /** highest priority wins when several forced rules apply to one path */
  priority: number;
  reason: string;
  kind: "forced" | "ignored";
}

export const OVERRIDE_RULES: readonly OverrideRule[] = [
  {
    "path": "training.eval_steps",
    "when": {
      "training.skip_evaluation": true
    },
    "priority": 100,
    "reason": "training.skip_evaluation=true: no evaluation runs during training",
    "kind": "ignored"
  },
  {
    "path": "training.save_all_checkpoints",
    "when": {
      "training.skip_evaluation": true
    },
    "value": true,
    "priority": 100,
    "reason": "training.skip_evaluation=true keeps every checkpoint so that any can be evaluated later",
    "kind": "forced"
  },
  {
    "path": "training.best_model_tracking.enabled",
    "when": {
      "training.skip_evaluation": true
    },
    "value": false,
    "priority": 100,
    "reason": "training.skip_evaluation=true: there are no evaluation metrics to rank checkpoints by",
    "kind": "forced"
  },
  {
    "path": "training.best_model_tracking.save_best_only",
    "when": {
      "training.skip_evaluation": true
    },
    "value": false,
    "priority": 100,
    "reason": "training.skip_evaluation=true: no best checkpoint is known, every checkpoint is kept",
    "kind": "forced"
  },
  {
    "path": "training.evaluation.partial_eval_during_training",
    "when": {
      "training.skip_evaluation": true
    },
    "value": false,
    "priority": 100,
    "reason": "training.skip_evaluation=true skips every evaluation step",
    "kind": "forced"
  },
  {
    "path": "training.evaluation.full_eval_at_end",
    "when": {
      "training.skip_evaluation": true
    },
    "value": false,
    "priority": 100,
    "reason": "training.skip_evaluation=true: evaluate afterwards with tasks/evaluate.ts",
    "kind": "forced"
  },
  {
    "path": "training.evaluation.eval_best_model_only",
    "when": {
      "training.skip_evaluation": true
    },
    "value": false,
    "priority": 100,
    "reason": "training.skip_evaluation=true: no best model is tracked",
    "kind": "forced"
  },
  {
    "path": "training.checkpoint.retention",
    "when": {
      "training.skip_evaluation": true
    },
    "value": "all",
    "priority": 100,
    "reason": "training.skip_evaluation=true keeps every checkpoint during training (prune afterwards with tasks/prune.ts if you choose)",
    "kind": "forced"
  },
  {
    "path": "wandb.log_dataset_metrics",
    "when": {
      "training.skip_evaluation": true
    },
    "value": false,
    "priority": 100,
    "reason": "training.skip_evaluation=true: no evaluation metrics are computed during training",
    "kind": "forced"
  }
];
