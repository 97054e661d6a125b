// Shared set-up for the @fal-ai/client conformance scripts (docs/server.md, "Pointing the
// official clients at it").
//
// The official client is used unmodified, from js/node_modules. Only the hosts are rewritten:
// a `ws` subclass installed as globalThis.WebSocket maps wss://fal.run/ to our server, and a
// requestMiddleware maps https://fal.run/, https://queue.fal.run/ and https://rest.fal.ai/ to
// http://127.0.0.1:PORT/, .../queue/ and / respectively. Each script prints one JSON object.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../../js/package.json", import.meta.url));
const WS = require("ws");
const falModule = require("@fal-ai/client");

export const { createFalClient, ApiError, ValidationError } = falModule;
export const PORT = process.env.LCMW_PORT;
export const KEY = process.env.LCMW_KEY;
export const APP = "fal-ai/fast-lcm-diffusion";
export const JPEG = new Uint8Array(Buffer.from(process.env.LCMW_JPEG_B64 || "", "base64"));
export const wsUrls = [];

if (!PORT) throw new Error("set LCMW_PORT to the server's port");

globalThis.WebSocket = class extends WS {
  constructor(url, protocols) {
    wsUrls.push(String(url));
    super(String(url).replace(/^wss:\/\/fal\.run\//, `ws://127.0.0.1:${PORT}/`), protocols);
  }
};

export function rewrite(url) {
  return url
    .replace(/^https:\/\/queue\.fal\.run\//, `http://127.0.0.1:${PORT}/queue/`)
    .replace(/^https:\/\/fal\.run\//, `http://127.0.0.1:${PORT}/`)
    .replace(/^https:\/\/rest\.fal\.ai\//, `http://127.0.0.1:${PORT}/`);
}

export const requestMiddleware = async (req) => ({ ...req, url: rewrite(req.url) });

export function makeClient(credentials = KEY) {
  return createFalClient({ credentials, requestMiddleware });
}

/** Mint a token from our /tokens/ with plain fetch (for tokenProvider). */
export async function mintToken(apps = ["fast-lcm-diffusion"], expiration = 120) {
  const r = await fetch(`http://127.0.0.1:${PORT}/tokens/`, {
    method: "POST",
    headers: { Authorization: `Key ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ allowed_apps: apps, token_expiration: expiration }),
  });
  if (r.status !== 201) throw new Error(`mint failed: ${r.status} ${await r.text()}`);
  return r.json();
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** Wait until pred() is truthy (a deadline, not a measurement). */
export async function until(pred, what, ms = 20000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export function errorInfo(e) {
  return {
    name: e?.name, message: e?.message, status: e?.status, body: e?.body ?? null,
    requestId: e?.requestId ?? null,
    fieldErrors: e instanceof ValidationError ? e.fieldErrors : null,
  };
}

/** Run main(), print its result as JSON, exit 0 (or print the error and exit 1). */
export function report(main) {
  main().then(
    (out) => { process.stdout.write(JSON.stringify(out) + "\n"); process.exit(0); },
    (err) => { process.stderr.write(String(err?.stack || err) + "\n"); process.exit(1); },
  );
}
