"""The browser tests' harness: JupyterLab/Notebook 7 and Chromium helpers live in
:mod:`lcm_widgets.bench.jupyter` (``lcm-widgets bench-live`` drives the same ones)."""

from lcm_widgets.bench.jupyter import (
    CHROMIUM,
    DEBUG_INIT_SCRIPT,
    FAKE_CAMERA_ARGS,
    REPO,
    DebugBrowser,
    Server,
    chromium,
    free_port,
    jupyter_own,
    jupyter_server,
    kernel_eval,
    open_notebook,
    page_error_text,
    page_errors_of_ours,
    run_first_cell,
    run_first_cell_until,
    scribble,
    write_notebook,
)

#: Screenshots of the browser tests.
ARTIFACTS = REPO / "test-artifacts"

__all__ = ["ARTIFACTS", "CHROMIUM", "DEBUG_INIT_SCRIPT", "FAKE_CAMERA_ARGS", "REPO", "DebugBrowser", "Server", "chromium",
           "free_port", "jupyter_own", "jupyter_server", "kernel_eval", "open_notebook",
           "page_error_text", "page_errors_of_ours",
           "run_first_cell", "run_first_cell_until", "scribble", "write_notebook"]
