// A hand-written realtime client as in fal's 2023 LCM blog post: it mints a token, opens the
// WebSocket itself, sends `JSON.stringify(input)` as a text frame and reads
// `JSON.parse(message.data)` (images[0].url, timings.inference). No fal client library.
import { APP, JPEG, mintToken, report } from "./harness.mjs";

report(async () => {
  const token = await mintToken();
  const ws = new WebSocket(`wss://fal.run/${APP}/image-to-image/realtime?fal_jwt_token=${token}`);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const nextMessage = () => new Promise((resolve) => { ws.onmessage = resolve; });
  const send = async (input) => {
    const message = nextMessage();
    ws.send(JSON.stringify(input));
    const m = await message;
    return { isText: typeof m.data === "string", data: JSON.parse(m.data) };
  };
  const image = "data:image/jpeg;base64," + Buffer.from(JPEG).toString("base64");

  const first = await send({ prompt: "a cat", image_url: image, strength: 1,
                             num_inference_steps: 2, seed: 42, request_id: "b1" });
  const bad = await send({ prompt: "x", image_url: image, num_inference_steps: 80 });
  const second = await send({ prompt: "again", image_url: image, strength: 1, seed: 7 });
  ws.close();
  const summary = ({ isText, data }) => ({
    isText, url: data.images[0].url.slice(0, 23), width: data.images[0].width,
    inference: typeof data.timings.inference, seed: data.seed,
    request_id: data.request_id ?? null, steps: data.num_inference_steps });
  return { first: summary(first), error: bad, second: summary(second) };
});
