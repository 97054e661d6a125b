"""``lcm-widgets bench-live``'s arithmetic on recorded page data (the browser run itself is in
tests/e2e/test_bench_live_e2e.py)."""

from __future__ import annotations

from lcm_widgets.bench.live import POOL_KEY, STAGES, analyse, clock_offset, pool, summary_lines


def _rec(seq: int, t_input: float, off: float = 3.0) -> dict:
    """A frame's trace: page times, kernel times = page time + ``off``."""
    k = {"recv": t_input + 30 + off, "start": t_input + 31 + off, "done": t_input + 41 + off,
         "sent": t_input + 42 + off}
    return {"seq": seq, "t_input": t_input, "t_begin": t_input + 5, "t_encoded": t_input + 20,
            "t_sent": t_input + 21, "t_took": t_input + 40, "k_took": t_input + 30.5 + off,
            "t_recv": t_input + 60, "t_decoded": t_input + 70, "t_paint": t_input + 71,
            "kernel": k}


def test_clock_offset_takes_the_fastest_round_trip() -> None:
    slow = {"t_sent": 0.0, "t_took": 100.0, "k_took": 80.0}      # offset 30 ± 50
    fast = {"t_sent": 10.0, "t_took": 20.0, "k_took": 18.0}     # offset 3 ± 5
    assert clock_offset([slow, fast, {"t_sent": 1}]) == (3.0, 5.0)
    assert clock_offset([{"seq": 1}]) is None


def test_clock_offset_from_a_result_when_no_took_came() -> None:
    """The frame→result round trip less the kernel's own time (recv → sent) relates the clocks
    too, and wins when it is tighter than any took's."""
    # page sends at 100, kernel (clock +5) receives at 103+5, sends at 110+5, page gets it at 113
    answered = {"t_sent": 100.0, "t_recv": 113.0, "kernel": {"recv": 108.0, "sent": 115.0}}
    assert clock_offset([answered]) == (5.0, 3.0)
    slow_took = {"t_sent": 0.0, "t_took": 20.0, "k_took": 15.0}  # ± 10: the result's wins
    assert clock_offset([slow_took, answered]) == (5.0, 3.0)
    # a kernel that took longer than the round trip (clocks off): not a measurement
    assert clock_offset([{"t_sent": 0.0, "t_recv": 5.0, "kernel": {"recv": 1.0, "sent": 9.0}}]
                        ) is None


def test_analyse_counts_each_shown_frame_once_inside_the_window() -> None:
    trace = [_rec(s, 1000.0 * s) for s in (1, 2, 3, 4)]
    changes = [{"t": 1100.0, "seq": 1}, {"t": 1110.0, "seq": 1},   # the same frame twice
               {"t": 2080.0, "seq": 2}, {"t": 3090.0, "seq": 3},
               {"t": 9000.0, "seq": 4}]                            # after the window
    raw = {"trace": trace, "changes": changes,
           "stats": {"framesSent": 4, "resultsDropped": 0, "maxInFlight": 1}}
    fig = analyse(raw, 1000.0, 5000.0)
    assert fig["stroke_to_pixels_ms"] == {"p50": 90.0, "p95": 99.0, "n": 3}
    assert fig["results_per_s"] == round(3 / 4, 1)
    assert fig["clock_offset_ms"] == {"kernel_minus_page": 3.0, "plus_minus": 9.5}
    med = fig["median_frame_ms"]
    assert list(med) == [s for s, _, _ in STAGES]
    # the stages add up to the measured stroke→pixels of that frame (90 ms: frame 3's 90)
    assert round(sum(med.values()), 1) == 90.0
    assert med["generate"] == 10.0 and med["rasterize + encode"] == 15.0
    assert fig["max_in_flight"] == 1


def test_summary_prints_the_ratio_to_the_floor() -> None:
    trace = [_rec(1, 1000.0)]
    raw = {"trace": trace, "changes": [{"t": 1100.0, "seq": 1}], "stats": {}}
    fig = analyse(raw, 1000.0, 2000.0)
    fig["results_painted_per_s"] = 1.0
    slow = {**fig, "stroke_to_pixels_ms": {"p50": 200.0, "p95": 300.0, "n": 1},
            "results_per_s": 5.0, "results_painted_per_s": 5.0}
    res = {"app": "lab", "seconds": 1.0, "cases": {"studio-echo": slow, "floor": fig},
           "machine": {"cpu": "x", "cores": 2, "load_avg": [0.1], "commit": "abc",
                       "date": "today"}}
    text = "\n".join(summary_lines(res))
    assert "studio-echo / floor: stroke→pixels p50 × 2.0, p95 × 3.0, results/s × 5.0" in text
    assert "kernel clock = page clock + 3.0 ms" in text


def test_jupyter_own_page_errors_are_told_apart_from_ours() -> None:
    from lcm_widgets.bench.jupyter import jupyter_own, page_errors_of_ours

    nb7 = ("Cannot read properties of undefined (reading 'schema')\nTypeError: x\n"
           "    at Object.f (http://127.0.0.1:9/static/notebook/notebook_core.c9.js?v=c9:483:8)\n"
           "    at async Promise.all (index 0)")
    ours = ("boom\nTypeError: boom\n    at SketchpadView._onResult (blob:http://127.0.0.1:9/"
            "0b1c:12:3)\n    at http://127.0.0.1:9/static/lab/main.js:1:1")
    assert jupyter_own(nb7)
    assert jupyter_own("Canceled future for execute_request message before replies were done")
    assert not jupyter_own(ours)
    assert not jupyter_own("no stack at all")
    assert page_errors_of_ours([nb7, ours]) == [ours]


def test_summary_compares_each_driver_with_its_own_floor() -> None:
    from lcm_widgets.bench.live import case_key

    trace = [_rec(1, 1000.0)]
    fig = analyse({"trace": trace, "changes": [{"t": 1100.0, "seq": 1}], "stats": {}},
                  1000.0, 2000.0)
    fig["results_painted_per_s"] = 1.0
    slow = {**fig, "stroke_to_pixels_ms": {"p50": 300.0, "p95": 300.0, "n": 1}}
    drivers = ["synth", "mouse"]
    assert case_key("floor", "synth", ["synth"]) == "floor"
    assert case_key("floor", "mouse", drivers) == "floor@mouse"
    cases = {case_key("studio-echo", "synth", drivers): fig,
             case_key("floor-direct", "synth", drivers): fig,
             case_key("studio-echo", "mouse", drivers): slow,
             case_key("floor-direct", "mouse", drivers): fig}
    res = {"app": "lab", "seconds": 1.0, "drivers": drivers, "input_rate": 60.0, "step_ms": 4.0,
           "cases": cases, "machine": {"cpu": "x", "cores": 2, "load_avg": [0.1],
                                       "commit": "abc", "date": "today"}}
    text = "\n".join(summary_lines(res))
    assert "driver synth (60.0 events/s), mouse (4.0 ms steps)" in text
    jittered = "\n".join(summary_lines({**res, "input_jitter": 0.5}))
    assert "driver synth (60.0 events/s, gaps ± 50%), mouse (4.0 ms steps)" in jittered
    assert "studio-echo@synth / floor-direct@synth: stroke→pixels p50 × 1.0" in text
    assert "studio-echo@mouse / floor-direct@mouse: stroke→pixels p50 × 3.0" in text


def test_bench_live_rejects_an_unknown_driver_or_rate(capsys) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from lcm_widgets.cli import main

    for argv, what in ((["--driver", "robot"], "--driver"), (["--driver", "synth,synth"],
                                                                "--driver"),
                       (["--input-rate", "0"], "--input-rate"),
                       (["--input-jitter", "1.5"], "--input-jitter")):
        with pytest.raises(SystemExit) as exc:
            main(["bench-live", *argv])
        assert what in str(exc.value), argv


def test_soak_drift_judges_only_the_samples_after_warm_up() -> None:
    from lcm_widgets.bench.live import soak_drift

    # a warm-up rise, then a heap that grows 0.5 MB per 100 s and an RSS that stays put
    samples = [{"t_s": 30.0, "kernel_rss_mb": 60.0, "js_heap_mb": 20.0}]
    samples += [{"t_s": t, "kernel_rss_mb": 78.0, "js_heap_mb": 30.0 + 0.005 * (t - 120)}
                for t in (120.0, 220.0, 320.0, 420.0)]
    d = soak_drift(samples, warmup_s=120.0)
    assert d is not None
    assert d["n"] == 4 and d["span_s"] == 300.0
    assert d["kernel_rss_mb"] == {"min": 78.0, "max": 78.0, "range": 0.0, "slope": 0.0}
    assert d["js_heap_mb"]["slope"] == 0.5 and d["js_heap_mb"]["range"] == 1.5
    assert soak_drift(samples[:2], warmup_s=120.0) is None  # one sample after warm-up


def test_summary_prints_the_soak_drift() -> None:
    trace = [_rec(1, 1000.0)]
    fig = analyse({"trace": trace, "changes": [{"t": 1100.0, "seq": 1}], "stats": {}},
                  1000.0, 2000.0)
    fig["results_painted_per_s"] = 1.0
    fig["soak"] = [{"t_s": t, "kernel_rss_mb": 78.0, "js_heap_mb": 30.0} for t in (60.0, 150.0, 250.0)]
    res = {"app": "lab", "seconds": 1.0, "cases": {"studio-echo": fig},
           "machine": {"cpu": "x", "cores": 2, "load_avg": [0.1], "commit": "abc",
                       "date": "today"}}
    text = "\n".join(summary_lines(res))
    assert ("studio-echo soak after 120 s of warm-up (2 samples, 100.0 s): kernel RSS "
            "78.0–78.0 MB (slope +0.0 MB/100 s), JS heap 30.0–30.0 MB (slope +0.0 MB/100 s)") in text


def _run(lat: list[float], **extra: object) -> dict:
    """One run's figures as analyse() leaves them, with its per-frame values."""
    per = [(x, {s: x / len(STAGES) for s, _, _ in STAGES}) for x in lat]
    return {"seconds": 10.0, "stroke_to_pixels_ms": {"p50": None, "p95": None, "n": len(lat)},
            "results_per_s": len(lat) / 10, "results_painted_per_s": len(lat) / 10,
            "frames_sent": len(lat) + 1, "results_dropped": 1, "max_in_flight": 1,
            "clock_offset_ms": {"kernel_minus_page": 1.0, "plus_minus": 0.5},
            POOL_KEY: {"latencies": lat, "per_frame": per}, **extra}


def test_pool_merges_runs_over_all_their_frames() -> None:
    """--repeat: percentiles over every frame of every run (not a mean of medians), rates
    averaged, counts added, high-water marks the highest; each run kept without its frames."""
    a = _run([10.0] * 6, kernel={"frames_in": 7, "max_in_flight": 1, "backend_max_concurrency": 1})
    b = _run([20.0] * 4, kernel={"frames_in": 5, "max_in_flight": 2, "backend_max_concurrency": 1})
    fig = pool([a, b])
    assert fig["stroke_to_pixels_ms"] == {"p50": 10.0, "p95": 20.0, "n": 10}
    assert fig["results_per_s"] == 0.5 and fig["frames_sent"] == 12
    assert fig["results_dropped"] == 2 and fig["max_in_flight"] == 1
    assert fig["kernel"] == {"frames_in": 12, "max_in_flight": 2, "backend_max_concurrency": 1}
    assert fig["median_frame_ms"] is not None and round(sum(fig["median_frame_ms"].values())) == 10
    assert [r["stroke_to_pixels_ms"]["n"] for r in fig["runs"]] == [6, 4]
    assert all(POOL_KEY not in r for r in fig["runs"])
    assert pool([a]) is a  # one run: its own figures


def test_summary_shows_the_pooled_ratio_and_each_round() -> None:
    studio = pool([_run([20.0] * 6), _run([30.0] * 4)])
    floor = pool([_run([10.0] * 6), _run([25.0] * 4)])
    # each run's own percentiles, as analyse() leaves them
    studio["runs"][0]["stroke_to_pixels_ms"].update(p50=20.0, p95=20.0)
    studio["runs"][1]["stroke_to_pixels_ms"].update(p50=30.0, p95=30.0)
    floor["runs"][0]["stroke_to_pixels_ms"].update(p50=10.0, p95=10.0)
    floor["runs"][1]["stroke_to_pixels_ms"].update(p50=25.0, p95=25.0)
    for f in (studio, floor):
        f.pop(POOL_KEY)
    res = {"machine": {"cpu": "cpu", "cores": 2, "load_avg": [0, 0, 0], "commit": "c",
                       "date": "d"}, "app": "lab", "seconds": 10.0, "drivers": ["synth"],
           "input_rate": 60.0, "repeat": 2,
           "cases": {"studio-echo": studio, "floor-direct": floor}}
    text = "\n".join(summary_lines(res))
    assert "studio-echo (pooled)" in text and "  run 2" in text
    assert "studio-echo / floor-direct (pooled): stroke→pixels p50 × 2.0, p95 × 1.2" in text
    assert "each round: p50 × 2.0 / p95 × 2.0, p50 × 1.2 / p95 × 1.2" in text


def test_run_cases_names_the_bad_argument_before_starting_anything() -> None:
    import pytest

    from lcm_widgets.bench.live import run_cases

    for kw, what in (({"input_jitter": 1.5}, "input_jitter: must be from 0 to 1"),
                     ({"input_jitter": -0.1}, "got -0.1"),
                     ({"repeat": 0}, "repeat: must be a whole number from 1 to 50"),
                     ({"repeat": 2, "soak_every": 30.0}, "repeat: a soak runs once"),
                     ({"drivers": ["robot"]}, "driver: must be one of synth, mouse")):
        with pytest.raises(ValueError, match=what):
            run_cases(["studio-echo"], seconds=1.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="case: must be one of"):
        run_cases(["nope"], seconds=1.0)
