// fal.stream with @fal-ai/client: iterate the events (a preview per step), done() is the
// output; a Blob in the input is uploaded first; a bad input rejects done() with an ApiError.
import { APP, JPEG, errorInfo, makeClient, report } from "./harness.mjs";

report(async () => {
  const fal = makeClient();
  const stream = await fal.stream(APP, {
    input: { prompt: "streamed", seed: 8, num_inference_steps: 3 } });
  const seen = [];
  for await (const event of stream) {
    seen.push({ step: event.step ?? null, partial: event.partial,
                url: event.images[0].url.slice(0, 23) });
  }
  const done = await stream.done();
  const out = { events: seen, done: { seed: done.seed, partial: done.partial,
                                      url: done.images[0].url },
                requestId: stream.requestId };

  const i2i = await fal.stream(`${APP}/image-to-image`, {
    input: { prompt: "x", image_url: new Blob([JPEG], { type: "image/jpeg" }), strength: 1,
             num_inference_steps: 2, sync_mode: true } });
  const steps = [];
  for await (const event of i2i) steps.push(event.step ?? null);
  const i2iDone = await i2i.done();
  out.i2i = { steps, width: i2iDone.images[0].width };

  try {
    const bad = await fal.stream(APP, { input: { prompt: "x", num_inference_steps: 0 } });
    await bad.done();
    out.bad = "no error";
  } catch (e) {
    out.bad = errorInfo(e);
  }
  return out;
});
