// Realtime with @fal-ai/client: round trip, x-fal-error to onError, Unauthorized + recovery,
// close without a spurious 1005 error.
import { APP, JPEG, makeClient, mintToken, report, sleep, until, wsUrls } from "./harness.mjs";

async function roundTrip(fal) {
  // default token mint (POST https://rest.fal.ai/tokens/ rewritten to our /tokens/)
  const events = [];
  const conn = fal.realtime.connect(APP, {
    connectionKey: "rt-roundtrip",
    throttleInterval: 0,
    onResult: (r) => events.push({ kind: "result", r }),
    onError: (e) => events.push({ kind: "error", message: e.message, status: e.status }),
  });
  const results = () => events.filter((e) => e.kind === "result");
  const errors = () => events.filter((e) => e.kind === "error");

  conn.send({ prompt: "a cat", image_url: JPEG, request_id: "r1", sync_mode: true,
              strength: 1, num_inference_steps: 2, seed: 42 });
  await until(() => results().length === 1, "the first result");
  const first = results()[0].r;

  conn.send({ prompt: "too many steps", num_inference_steps: 80, request_id: "bad" });
  await until(() => errors().length === 1, "the x-fal-error");
  const error = errors()[0];

  conn.send({ prompt: "after the error", request_id: "r2", sync_mode: true });
  await until(() => results().length === 2, "the result after the error");
  const second = results()[1].r;

  const errorsBeforeClose = errors().length;
  conn.close();
  await sleep(300);
  return {
    first: { request_id: first.request_id, url: first.images[0].url.slice(0, 23),
             width: first.images[0].width, seed: first.seed, isObject: typeof first },
    error,
    second: { request_id: second.request_id },
    errorsAfterClose: errors().slice(errorsBeforeClose),
  };
}

async function unauthorizedThenRecovery(fal) {
  const events = [];
  const providerCalls = [];
  const tokenProvider = async (app) => {
    providerCalls.push(app);
    // the first token is scoped to another app, so the server rejects it
    return mintToken(providerCalls.length === 1 ? ["some-other-app"] : ["fast-lcm-diffusion"]);
  };
  const conn = fal.realtime.connect(APP, {
    connectionKey: "rt-auth",
    throttleInterval: 0,
    tokenProvider,
    onResult: (r) => events.push({ kind: "result", r }),
    onError: (e) => events.push({ kind: "error", message: e.message, status: e.status }),
  });
  conn.send({ prompt: "first try", request_id: "a1", sync_mode: true });
  await until(() => events.some((e) => e.kind === "error"), "the Unauthorized close");
  await sleep(100);
  conn.send({ prompt: "second try", request_id: "a2", sync_mode: true });
  await until(() => events.some((e) => e.kind === "result"), "a result with the new token");
  conn.close();
  return {
    providerCalls,
    errors: events.filter((e) => e.kind === "error"),
    result: events.find((e) => e.kind === "result").r.request_id,
  };
}

report(async () => {
  const fal = makeClient();
  const rt = await roundTrip(fal);
  const auth = await unauthorizedThenRecovery(fal);
  return { roundTrip: rt, auth, wsUrls: wsUrls.map((u) => u.replace(/fal_jwt_token=[^&]+/, "fal_jwt_token=T")) };
});
