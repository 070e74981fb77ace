// The kit run, through vitest, against the scripted backend: the reference user of runBackendContract. A fully
// claiming backend, one claiming the minimum (with reasoned skips), and one with an extra capability and its exerciser.
import { supportedCapability, unwrap, withMaxTokens } from "@dappcore/inference";
import { runBackendContract } from "@dappcore/inference-testing";
import { DEFAULT_CAPABILITIES, scriptedBackend, scriptedLoader } from "./scripted-backend.js";

const backend = scriptedBackend();

runBackendContract({
  name: "scripted",
  backend,
  load: (...opts) => backend.loadModel("scripted://model", ...opts),
});

runBackendContract({
  name: "scripted, minimal claims",
  load: scriptedLoader({
    capabilities: [supportedCapability("generate", "model"), supportedCapability("chat", "model")],
    faults: { classifyUnsupported: true, logitsUnsupported: true },
  }),
  prompt: "Once upon a time",
  maxTokens: 6,
  skip: {
    "abort-before-start": "demonstrates a reasoned skip of a check whose capability is not claimed",
    "probe-events": "probe.events is not claimed here",
  },
});

runBackendContract({
  name: "scripted, extra capability",
  load: scriptedLoader({ capabilities: [...DEFAULT_CAPABILITIES, supportedCapability("kv.snapshot", "runtime")] }),
  exercisers: {
    "kv.snapshot": async (model) => {
      // Stands in for a real snapshot round-trip: the model must still generate after a generation.
      for await (const _ of model.generate("snapshot", withMaxTokens(2))) void _;
      unwrap(model.err());
    },
  },
});
