import { expect, test } from "bun:test";
import { PHASES, startupPhases } from "./startup.ts";

const startup = { parent_started: 10.5, process_started: 13, imports_began: 13.25, imports_done: 17, distributed_done: 17.5, input_check_done: 18, model_done: 18.25, data_done: 18.25, engine_done: 20 };

test("startupPhases: each phase from the mark before it; torchrun's agent only when the launch used it", () => {
  const viaTorchrun = startupPhases({ spawn: 10, startup, firstStep: 21, viaTorchrun: true });
  expect(viaTorchrun).toEqual({ launcher: 0.5, torchrun: 2.5, python: 0.25, imports: 3.75, distributed: 0.5, input_check: 0.5, model: 0.25, data: 0, engine: 1.75, first_step: 1 });
  expect(Object.keys(viaTorchrun)).toEqual(PHASES.map(([k]) => k));
  // no torchrun: the parent is the launcher itself, the engine is the first Python
  const direct = startupPhases({ spawn: 10, startup, firstStep: 21, viaTorchrun: false });
  expect(direct.launcher).toBe(3);
  expect(direct.torchrun).toBe(0);
  // phases add up to spawn -> first step
  expect(Object.values(direct).reduce((a, b) => a! + b!, 0)).toBeCloseTo(11, 9);
  // an engine without the timeline: no phases, not zeros
  expect(Object.values(startupPhases({ spawn: 10, startup: null, firstStep: 21, viaTorchrun: false })).every((v) => v === null)).toBe(true);
});
