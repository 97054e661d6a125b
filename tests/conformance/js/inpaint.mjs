// /inpainting of both apps with @fal-ai/client against a two-app server: fal.run and
// fal.realtime answer images; a mask that is not an image is a 422 (ValidationError) naming
// mask_url, and on the socket an x-fal-error, after which the session answers again.
import { APP, JPEG, ValidationError, errorInfo, makeClient, report, until } from "./harness.mjs";

const TURBO = "fal-ai/fast-turbo-diffusion";
const IMAGE = `data:image/jpeg;base64,${process.env.LCMW_JPEG_B64}`;
const BROKEN = `data:image/png;base64,${Buffer.from("not an image").toString("base64")}`;

async function realtime(fal, app) {
  const events = [];
  const conn = fal.realtime.connect(`${app}/inpainting`, {
    connectionKey: `inpaint-${app}`,
    throttleInterval: 0,
    onResult: (r) => events.push({ kind: "result", r }),
    onError: (e) => events.push({ kind: "error", message: e.message }),
  });
  const results = () => events.filter((e) => e.kind === "result");
  const errors = () => events.filter((e) => e.kind === "error");
  // the same 64x64 image as its own mask: a valid one-channel mask of the right size
  conn.send({ prompt: "a cat", image_url: JPEG, mask_url: JPEG, request_id: "m1", seed: 4 });
  await until(() => results().length === 1, `${app}: the first result`);
  conn.send({ prompt: "x", image_url: JPEG, mask_url: BROKEN, request_id: "bad" });
  await until(() => errors().length === 1, `${app}: the x-fal-error`);
  conn.send({ prompt: "after", image_url: JPEG, mask_url: JPEG, request_id: "m2" });
  await until(() => results().length === 2, `${app}: the result after the error`);
  conn.close();
  const first = results()[0].r;
  return { request_id: first.request_id, seed: first.seed, images: first.images.length,
           error: errors()[0].message, after: results()[1].r.request_id };
}

report(async () => {
  const fal = makeClient();
  const out = {};
  for (const [name, app] of [["lcm", APP], ["turbo", TURBO]]) {
    const run = await fal.run(`${app}/inpainting`, {
      input: { prompt: "a cat", image_url: IMAGE, mask_url: IMAGE, seed: 5, sync_mode: true },
    });
    let bad = "no error";
    try {
      await fal.run(`${app}/inpainting`, {
        input: { prompt: "x", image_url: IMAGE, mask_url: BROKEN },
      });
    } catch (e) {
      bad = { ...errorInfo(e), isValidationError: e instanceof ValidationError };
    }
    out[name] = {
      run: { seed: run.data.seed, steps: run.data.num_inference_steps,
             width: run.data.images[0].width, url: run.data.images[0].url.slice(0, 23) },
      bad: { isValidationError: bad.isValidationError, status: bad.status,
             loc: bad.fieldErrors && bad.fieldErrors[0].loc },
      realtime: await realtime(fal, app),
    };
  }
  return out;
});
