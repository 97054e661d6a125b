"""The job board's rules (docs/scale.md), on the real :class:`JobBoard` class, driven
directly in one event loop: leases, a second holder's death, late answers, cancel.

In a child process: importing ray here would fix its auth settings before the cluster tests
make theirs (tests/scale/test_ray_serve.py). No cluster is started; the board's methods are
called as its actor would run them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ray,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="needs ray[serve]")]

CODE = r'''
import asyncio, json, time
from lcm_widgets.server.ray_board import JobBoard

def rec(i):
    return {"id": f"j{i}", "owner": "me", "app_id": "fal-ai/fast-lcm-diffusion",
            "input": {"prompt": str(i)}, "base_url": "http://127.0.0.1:1/",
            "webhook": "http://127.0.0.1:9/hook" if i == 1 else None, "via": "A"}

async def main():
    out = {}
    b = JobBoard(max_queue=3, lease_s=60.0)  # the sweeps below are called with their own clock
    for i in range(3):
        assert (await b.submit(rec(i)))[0] == "ok"
    out["full"] = await b.submit(rec(9))
    out["positions"] = [(await b.get(f"j{i}"))["queue_position"] for i in range(3)]
    out["other_owner"] = await b.get("j0", "someone-else")
    # A takes two jobs, starts one
    work = await b.poll("A", 2, 0.1)
    out["a_took"] = [j["id"] for j in work["jobs"]]
    lease0 = work["jobs"][0]["lease"]
    assert await b.started("j0", "A", lease0)
    out["j0_status"] = (await b.get("j0"))["status"]
    # B polls and so stays alive; A falls silent past the lease
    await b.poll("B", 0, 0.05)
    b.ingresses["B"] = time.monotonic() + 100
    out["dead"] = b.sweep(now=time.monotonic() + 70)
    out["after_first_death"] = [(await b.get(f"j{i}"))["status"] for i in range(3)]
    out["waiting"] = list(b.waiting)
    # A comes back late with an answer: dropped
    out["late_taken"] = await b.finish("j0", "A", lease0, {"result": {"x": 1}})
    # B takes j0 and j1 again (their order kept), then dies too
    work = await b.poll("B", 2, 0.1)
    out["b_took"] = [j["id"] for j in work["jobs"]]
    b.ingresses["B"] = time.monotonic() - 100
    b.ingresses["C"] = time.monotonic() + 100
    out["dead2"] = b.sweep()
    j0 = await b.get("j0")
    out["j0_final"] = [j0["status"], j0["error_type"], j0["error_status"], j0["error"]]
    # the webhook of j1, ended on the board, goes to the next ingress that polls
    work = await b.poll("C", 0, 0.05)
    out["hooks"] = [h["id"] for h in work["webhooks"]]
    # cancel: a waiting job, a running one (its holder is told), a finished one
    work = await b.poll("C", 1, 0.1)
    out["c_took"] = [j["id"] for j in work["jobs"]]
    lease2 = work["jobs"][0]["lease"]
    out["cancel_running"] = await b.cancel("j2", "me")
    work = await b.poll("C", 0, 0.05)
    out["told"] = work["cancel"]
    out["answer_after_cancel"] = await b.finish("j2", "C", lease2, {"result": {"x": 2}})
    j2 = await b.get("j2")
    out["j2_final"] = [j2["status"], j2["error_type"], j2["result"]]
    out["cancel_done"] = await b.cancel("j2", "me")
    assert (await b.submit(rec(5)))[0] == "ok"
    out["cancel_waiting"] = await b.cancel("j5", "me")
    out["cancel_other_owner"] = await b.cancel("j5", "someone-else")
    # a watcher wakes at the next change
    assert (await b.submit(rec(6)))[0] == "ok"
    v = (await b.get("j6"))["version"]
    t = asyncio.ensure_future(b.watch("j6", v, 5))
    await asyncio.sleep(0.05)
    await b.cancel("j6", "me")
    out["watched"] = (await t)["status"]
    out["watch_timeout"] = await b.watch("j6", (await b.get("j6"))["version"], 0.1)
    # an ingress that stops on purpose hands its jobs back, at the head, uncounted
    for i in (7, 8):
        assert (await b.submit(rec(i)))[0] == "ok"
    work = await b.poll("D", 1, 0.1)
    lease7 = work["jobs"][0]["lease"]
    out["released"] = await b.release("D")
    j7 = await b.get("j7")
    out["j7"] = [j7["status"], j7["holds"], j7["queue_position"], list(b.waiting)]
    out["released_late"] = await b.finish("j7", "D", lease7, {"result": {"x": 7}})
    out["stats"] = await b.stats()
    print(json.dumps(out))

asyncio.run(main())
'''


def test_board_rules() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["full"][0] == "full" and "max_queue 3" in out["full"][1]
    assert out["positions"] == [0, 1, 2]
    assert out["other_owner"] is None  # another key's job does not exist for it
    assert out["a_took"] == ["j0", "j1"] and out["j0_status"] == "IN_PROGRESS"
    # A silent past its lease: both its jobs queued again at the head, in order
    assert out["dead"] == ["A"]
    assert out["after_first_death"] == ["IN_QUEUE", "IN_QUEUE", "IN_QUEUE"]
    assert out["waiting"] == ["j0", "j1", "j2"]
    assert out["late_taken"] is False  # one outcome per job: A's late answer is dropped
    assert out["b_took"] == ["j0", "j1"]
    # the second holder dies too: a clear error, not a third run
    assert out["dead2"] == ["B"]
    status, error_type, code, error = out["j0_final"]
    assert (status, error_type, code) == ("COMPLETED", "generation_failed", 500)
    assert "died" in error and "submit it again" in error
    assert out["hooks"] == ["j1"]
    assert out["c_took"] == ["j2"]
    assert out["cancel_running"] == [202, "CANCELLATION_REQUESTED"]
    assert out["told"] == ["j2"] and out["answer_after_cancel"] is False
    assert out["j2_final"] == ["COMPLETED", "request_cancelled", None]
    assert out["cancel_done"] == [400, "ALREADY_COMPLETED"]
    assert out["cancel_waiting"] == [202, "CANCELLATION_REQUESTED"]
    assert out["cancel_other_owner"] == [404, "NOT_FOUND"]
    assert out["watched"] == "COMPLETED" and out["watch_timeout"] is None
    assert out["released"] == 1 and out["j7"] == ["IN_QUEUE", 0, 0, ["j7", "j8"]]
    assert out["released_late"] is False
    stats = out["stats"]
    assert stats["ingress_deaths"] == 2 and stats["requeued"] == 2
    assert stats["failed_holders"] == 2 and stats["late_answers_dropped"] == 3
    assert stats["released"] == 1
