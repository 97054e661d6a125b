"""The wire protocols, sans I/O: what crosses a socket or a comm, and nothing that moves it.

* :mod:`.fal` — fal's realtime codec (msgpack maps in and out, JSON text frames for errors,
  timings and refused credentials), used by the client and the server alike;
* :mod:`.errors` — the one table of error codes: code ↔ exception ↔ HTTP status;
* :mod:`.endpoints` — endpoint ids and the URLs built from them;
* :mod:`.credentials` — API keys that never print themselves, realtime tokens;
* :mod:`.widget` — the Sketchpad's browser ⇄ kernel messages (mirrored by ``js/protocol.js``).

Nothing here opens a socket, awaits or reads a clock; the adapters are
:mod:`lcm_widgets.backends.realtime`, :mod:`lcm_widgets.backends.http`,
:mod:`lcm_widgets.server` and :mod:`lcm_widgets.widgets.sketchpad`
(docs/architecture.md, "Protocols").
"""
