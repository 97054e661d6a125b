// Storage with @fal-ai/client: fal.storage.upload(Blob), and the automatic upload of a Blob
// (or File) found in the input of fal.run and fal.subscribe.
import { APP, JPEG, errorInfo, makeClient, report } from "./harness.mjs";

report(async () => {
  const fal = makeClient();
  const out = {};

  const url = await fal.storage.upload(new Blob([JPEG], { type: "image/jpeg" }));
  const byUrl = await fal.run(`${APP}/image-to-image`, {
    input: { prompt: "from an uploaded url", image_url: url, strength: 1, sync_mode: true } });
  out.upload = { url, width: byUrl.data.images[0].width };

  // a Blob in the input is uploaded by the client itself, then sent as its URL
  const auto = await fal.run(APP, {
    input: { prompt: "auto", image_url: new Blob([JPEG], { type: "image/jpeg" }), strength: 1,
             seed: 5, sync_mode: true } });
  out.autoRun = { width: auto.data.images[0].width, seed: auto.data.seed,
                  requestId: auto.requestId, bodyRequestId: auto.data.request_id };

  const file = new File([JPEG], "sketch.jpg", { type: "image/jpeg" });
  const sub = await fal.subscribe(APP, {
    input: { prompt: "queued", image_url: file, strength: 1, seed: 6 }, pollInterval: 50 });
  out.autoSubscribe = { width: sub.data.images[0].width, seed: sub.data.seed };

  // a refused upload (not an image) is an ApiError naming the problem
  try {
    await fal.storage.upload(new Blob(["hello"], { type: "text/plain" }));
    out.refused = "no error";
  } catch (e) {
    out.refused = errorInfo(e);
  }

  // another key cannot use this key's file
  try {
    await makeClient("other-id:other-secret").run(APP, {
      input: { prompt: "x", image_url: url, strength: 1 } });
    out.otherKey = "no error";
  } catch (e) {
    out.otherKey = errorInfo(e);
  }
  return out;
});
