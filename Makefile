# The README's quick start: `make demo` and `make test`. Each installs what it
# needs first (.venv with the TensorFlow CPU build, the course package with the
# grader and dev tools; for the tests also .venv-colab, a replica of Google Colab's
# Python 3.13 environment), so both work from a clean clone.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
COLAB_VENV := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.replica-stamp

# Independent prerequisites build side by side: the two environments' installs (each pip
# mostly keeps one core busy), the system tools, the lint.
MAKEFLAGS += --jobs=2

.PHONY: demo test lint site system-tools clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[cpu,dev]"
	touch $(STAMP)

# The build script needs only the standard library, so it does not wait for $(VENV).
$(COLAB_STAMP): colab/pip-freeze.txt tests/colab_replica.py pyproject.toml
	python3 tests/colab_replica.py build $(COLAB_VENV)

# The grader's sandbox (bubblewrap) and the site's browser test (Chromium); installed
# where we may (root + apt). GitHub's runners bring their own Chrome.
system-tools:
	@missing=""; command -v bwrap >/dev/null 2>&1 || missing="bubblewrap"; \
	if ! command -v chromium >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then \
	  missing="$$missing chromium chromium-driver"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq $$missing >/dev/null) \
	      || echo "note: could not install$$missing"; \
	  else echo "note: missing$$missing (apt-get install$$missing)"; fi; fi

demo: $(STAMP) system-tools
	$(VENV)/bin/course demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .  # ruff reads notebooks' code cells itself
	$(PY) -m course.notebooks check

site: $(STAMP)
	$(PY) -m autograder.site _site

# The site is built after the suite so that it reuses the units the suite executed on
# the Colab replica; then a real browser reads every page. Three pytest workers on two
# cores: while one waits (on another's shared solution run, on a kernel starting), the
# others compute (the machine stayed 98 % busy; 599 s against 649 s with two workers).
test: $(STAMP) $(COLAB_STAMP) system-tools lint
	$(PY) -m pytest -n 3 --dist loadgroup --durations=25 -m "not site"
	$(PY) -m autograder.site _site
	$(PY) -m pytest -m site tests/test_site.py

clean:
	rm -rf $(VENV) $(COLAB_VENV) build _site
