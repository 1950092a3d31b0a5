// Prints the ds_config.json that the launcher (lib/config/deepspeed.ts) builds for a resolved config read
// from stdin, so that the engine's tests run under the same DeepSpeed settings as real runs (CPU: hasGpu false).
import { buildDeepSpeedConfig } from "../../lib/config/deepspeed.ts";

const config = JSON.parse(await Bun.stdin.text());
const worldSize = process.argv[2] ? Number(process.argv[2]) : undefined;
console.log(JSON.stringify(buildDeepSpeedConfig({ config, worldSize, hasGpu: false })));
