// Which of the demo's generated assets a config still needs: the one rule shared by
// tasks/prepare.ts and tasks/train.ts, the same as qc_engine.demo_assets.build_demo_assets applies
// (a generated asset is built only when its path does not exist yet).
import { existsSync } from "node:fs";
import type { QwenClassifyConfig } from "../../generated/config.ts";

export interface DemoAssetsWanted {
  /** demo.build_tiny_model and no model.pretrained_name on disk yet */
  model: boolean;
  /** demo.build_digits_dataset and no data.train_jsonl on disk yet (it is written last) */
  data: boolean;
}

export function demoAssetsToBuild(params: { config: QwenClassifyConfig; exists?: (path: string) => boolean }): DemoAssetsWanted {
  const exists = params.exists ?? existsSync;
  const { config } = params;
  return {
    model: config.demo?.build_tiny_model === true && !exists(config.model.pretrained_name),
    data: config.demo?.build_digits_dataset === true && !exists(config.data.train_jsonl),
  };
}
