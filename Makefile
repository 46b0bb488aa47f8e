# Two set-up commands for a new machine: `make demo` and `make test`.
# Everything installs into .venv; tests that need Chromium install it (Debian) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench format clean chromium screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m llmbench demo

test: install chromium
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy --strict src/llmbench

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: install
	$(PY) benchmarks/sse_parser.py
	$(PY) benchmarks/token_path.py
	$(PY) benchmarks/client_overhead.py
	$(PY) benchmarks/mock_capacity.py
	$(PY) benchmarks/schedule_accuracy.py
	$(PY) benchmarks/report_scale.py
	$(PY) benchmarks/scale_out.py
	$(PY) benchmarks/sweep_cost.py
	$(PY) benchmarks/soak.py --duration 120

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

# The report's browser tests drive Debian's Chromium through Playwright; no browser is
# ever downloaded. Installed when missing (as root, with apt); otherwise those tests skip.
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ -x $(CHROMIUM) ]; then \
		:; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: $(CHROMIUM) is missing and installing it needs root and apt-get;" \
			"the report's browser tests will be skipped"; \
	else \
		apt-get update && apt-get install -y chromium; \
	fi

# docs/report.png and docs/sweep.png: the reports of a real run and a real sweep against
# the mock, in headless Chromium; docs/server-metrics.png and docs/workload.png: one
# section of a run's report (scraping the mock's /metrics; sessions on its prefix cache).
# Arguments: which one (report, sweep, server or workload), the PNG, Chromium.
define SCREENSHOT_PY
import subprocess, sys, tempfile
from pathlib import Path
from playwright.sync_api import sync_playwright

# What to run: the llmbench command, the mock's flags, the command's own flags (--url,
# --model, --out and --quiet are added; {url} is the mock's) and the part of the page
# to take (None: all of it).
JOBS = {
    "report": ("run", ["--ttft-ms", "150", "--itl-ms", "15", "--jitter-ms", "40", "--tokens", "128"],
               ["--rps", "30", "--arrival", "poisson", "--ramp-up", "5", "--duration", "20"], None),
    # The mock with a known capacity (47 req/s).
    "sweep": ("sweep", ["--slots", "32", "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "64"],
              ["--slo", "ttft_p95<=200ms", "--slo", "tpot_p95<=20ms", "--step-duration", "6"], None),
    "server": ("run", ["--slots", "32", "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "64"],
               ["--rps", "40", "--ramp-up", "5", "--duration", "20",
                "--server-metrics", "{url}/metrics"], "#server"),
    "workload": ("run", ["--ttft-ms", "120", "--itl-ms", "5", "--tokens", "40", "--prefix-cache"],
                 ["--turns", "4:1", "--input-tokens", "200", "--think-time", "0.3:0.1",
                  "--prefix-tokens", "300", "--prefix-groups", "4", "--concurrency", "8",
                  "--duration", "20"], "#workload"),
}
command, mock_flags, command_flags, part = JOBS[sys.argv[1]]
out, chromium = Path(sys.argv[2]).resolve(), sys.argv[3]
flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
llmbench = [sys.executable, "-m", "llmbench"]
mock = subprocess.Popen([*llmbench, "mock", "--port", "0", *mock_flags], stdout=subprocess.PIPE, text=True)
try:
    url = mock.stdout.readline().split()[-1]
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "out"
        subprocess.run(
            [*llmbench, command, "--url", url, "--model", "demo-model",
             *(flag.replace("{url}", url) for flag in command_flags),
             "--out", str(out_dir), "--quiet"], check=True, stdout=subprocess.DEVNULL)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=chromium, args=flags,
                viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.goto((out_dir / "report.html").as_uri())  # every run and sweep writes one
            page.wait_for_selector("html[data-ready='1']")
            if part is None:
                page.screenshot(path=str(out), full_page=True)
            else:
                page.locator(part).screenshot(path=str(out))
            context.close()
finally:
    mock.terminate()
    mock.wait()
print(f"wrote {out}")
endef
export SCREENSHOT_PY

screenshot: install chromium
	@mkdir -p docs
	$(PY) -c "$$SCREENSHOT_PY" report docs/report.png $(CHROMIUM)
	$(PY) -c "$$SCREENSHOT_PY" sweep docs/sweep.png $(CHROMIUM)
	$(PY) -c "$$SCREENSHOT_PY" server docs/server-metrics.png $(CHROMIUM)
	$(PY) -c "$$SCREENSHOT_PY" workload docs/workload.png $(CHROMIUM)
