// The seed's probe bus: token-by-token introspection into telemetry (reported into a Core) and a logit consumer.
import {
  Core,
  loadModel,
  newLogitSink,
  newProbeBus,
  newTelemetrySink,
  TELEMETRY_MESSAGE_TYPE,
  withLogits,
  withProbeBus,
  type ProbeLogits,
  type TelemetryMessage,
} from "@dappcore/inference";

const c = new Core();
c.onMessage((m) => {
  const msg = m as TelemetryMessage;
  if (msg.type === TELEMETRY_MESSAGE_TYPE) console.log(`ttft ${msg.generation.timeToFirstTokenMs} ms, ${msg.generation.tokensPerSec} tok/s`);
});

const seen: ProbeLogits[] = [];
const evaluate = (logits: ProbeLogits) => seen.push(logits);

const bus = newProbeBus(
  newTelemetrySink(c),
  newLogitSink(evaluate),
);
bus.onSinkError = (err) => console.warn("a probe sink failed", err);
const r = await loadModel("/path/to/model", withProbeBus(bus));
if (r.ok) {
  for await (const tok of r.value.generate("Hello", withLogits())) process.stdout.write(tok.text);
  await r.value.close();
}
