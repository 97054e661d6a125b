// Two apps on one server with @fal-ai/client: fal.run and fal.realtime on the LCM app and on
// the turbo app, each answering with its own schema; a 422 (ValidationError) and an
// x-fal-error (onError) naming the field, with each app's limit.
import { APP, JPEG, ValidationError, errorInfo, makeClient, report, until } from "./harness.mjs";

const TURBO = "fal-ai/fast-turbo-diffusion";
const head = (url) => (url.startsWith("data:") ? url.slice(0, 23) : url);

async function realtime(fal, app) {
  const events = [];
  const conn = fal.realtime.connect(app, {
    connectionKey: `apps-${app}`,
    throttleInterval: 0,
    onResult: (r) => events.push({ kind: "result", r }),
    onError: (e) => events.push({ kind: "error", message: e.message, status: e.status }),
  });
  const results = () => events.filter((e) => e.kind === "result");
  const errors = () => events.filter((e) => e.kind === "error");
  conn.send({ prompt: "a cat", image_url: JPEG, request_id: "a1", strength: 1, seed: 8,
              sync_mode: true });
  await until(() => results().length === 1, `${app}: the first result`);
  conn.send({ prompt: "x", num_inference_steps: 99, request_id: "bad" });
  await until(() => errors().length === 1, `${app}: the x-fal-error`);
  conn.send({ prompt: "after", request_id: "a2", sync_mode: true });
  await until(() => results().length === 2, `${app}: the result after the error`);
  conn.close();
  const first = results()[0].r;
  return { request_id: first.request_id, seed: first.seed, hasPrompt: "prompt" in first,
           url: first.images[0].url.slice(0, 23), error: errors()[0],
           after: results()[1].r.request_id };
}

report(async () => {
  const fal = makeClient();
  const out = {};
  for (const [name, app, steps] of [["lcm", APP, 80], ["turbo", TURBO, 8]]) {
    const run = await fal.run(app, { input: { prompt: "a cat", seed: 5 } });
    let validation = "no error";
    try {
      await fal.run(app, { input: { prompt: "x", num_inference_steps: steps } });
    } catch (e) {
      validation = { ...errorInfo(e), isValidationError: e instanceof ValidationError };
    }
    out[name] = {
      run: { seed: run.data.seed, steps: run.data.num_inference_steps,
             hasPrompt: "prompt" in run.data, url: head(run.data.images[0].url) },
      validation: { isValidationError: validation.isValidationError,
                    fieldErrors: validation.fieldErrors, status: validation.status },
      realtime: await realtime(fal, app),
    };
  }
  return out;
});
