// REST and queue with @fal-ai/client: run, 422 ValidationError, 401, subscribe with logs
// (polling and streaming), submit + cancel.
import { APP, ApiError, ValidationError, errorInfo, makeClient, report } from "./harness.mjs";

report(async () => {
  const fal = makeClient();
  const out = {};

  const run = await fal.run(APP, { input: { prompt: "a cat", seed: 7, sync_mode: true } });
  out.run = { requestId: run.requestId, seed: run.data.seed,
              url: run.data.images[0].url.slice(0, 23) };

  try {
    await fal.run(APP, { input: { prompt: "x", num_inference_steps: 80 } });
    out.validation = "no error";
  } catch (e) {
    out.validation = { ...errorInfo(e), isValidationError: e instanceof ValidationError };
  }

  try {
    await makeClient("wrong:key").run(APP, { input: { prompt: "x" } });
    out.unauthorized = "no error";
  } catch (e) {
    out.unauthorized = { ...errorInfo(e), isApiError: e instanceof ApiError };
  }

  const updates = [];
  const sub = await fal.subscribe(APP, {
    input: { prompt: "queued", seed: 9 }, logs: true, pollInterval: 50,
    onQueueUpdate: (u) => updates.push({ status: u.status, logs: u.logs ?? null }),
  });
  out.subscribe = { requestId: sub.requestId, seed: sub.data.seed,
                    url: sub.data.images[0].url, updates };

  const streamed = [];
  const sub2 = await fal.subscribe(APP, {
    input: { prompt: "streamed", seed: 11 }, logs: true, mode: "streaming",
    onQueueUpdate: (u) => streamed.push(u.status),
  });
  out.streaming = { seed: sub2.data.seed, statuses: streamed };

  // Cancel: a slow job runs, the second waits in the queue and is cancelled.
  const slow = await fal.queue.submit(APP, { input: { prompt: "slow", seed: 1 } });
  const queued = await fal.queue.submit(APP, { input: { prompt: "queued", seed: 2 } });
  await fal.queue.cancel(APP, { requestId: queued.request_id });
  const cancelled = await fal.queue.status(APP, { requestId: queued.request_id, logs: true });
  out.cancel = { submitStatus: queued.status, status: cancelled.status,
                 error_type: cancelled.error_type ?? null };
  try {
    await fal.queue.result(APP, { requestId: queued.request_id });
    out.cancel.result = "no error";
  } catch (e) {
    out.cancel.result = errorInfo(e);
  }
  const done = await fal.queue.subscribeToStatus(APP, { requestId: slow.request_id,
                                                        pollInterval: 50 });
  out.slowStatus = done.status;
  return out;
});
