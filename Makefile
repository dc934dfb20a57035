# The two set-up commands of the README: `make run` and `make test`.
# Both create and use a virtualenv at .venv, built with the first Python >= 3.12 found.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv lint

venv: $(STAMP)

$(STAMP): pyproject.toml
	@set -e; \
	if [ ! -x "$(PY)" ] || ! "$(PY)" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  rm -rf "$(VENV)"; \
	  python=""; \
	  for candidate in python3.14 python3.13 python3.12 python3 \
	      $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	    if "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	      python="$$candidate"; break; \
	    fi; \
	  done; \
	  if [ -z "$$python" ]; then \
	    echo "No Python 3.12 or newer found; install one (Django 6 needs it)." >&2; exit 1; \
	  fi; \
	  echo "Creating $(VENV) with $$python"; \
	  "$$python" -m venv "$(VENV)"; \
	fi; \
	"$(PY)" -m pip install --quiet --upgrade pip; \
	"$(PY)" -m pip install --quiet -e ".[test]"; \
	touch "$(STAMP)"

# Runs the portal with demo data on the embedded default (SQLite, Celery in-process)
# unless DATABASE_URL / CELERY_BROKER_URL are set.
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py runserver 127.0.0.1:8000

# Runs the whole suite against the real PostgreSQL and Redis (127.0.0.1 by default).
test: venv
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	  else \
	    echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; \
	fi
	@if [ ! -x /usr/sbin/bearerbox ] || [ ! -x /usr/lib/kannel/test/fakesmsc ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's kannel and kannel-extras for the SMS gateway tests"; \
	    (apt-get install -y -qq kannel kannel-extras >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq kannel kannel-extras >/dev/null)); \
	  else \
	    echo "The SMS gateway tests need Kannel: sudo apt-get install kannel kannel-extras" >&2; exit 1; \
	  fi; \
	fi
	@if ! command -v xgettext >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's gettext for the translation tests"; \
	    (apt-get install -y -qq gettext >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq gettext >/dev/null)); \
	  else \
	    echo "The translation tests need GNU gettext: sudo apt-get install gettext" >&2; exit 1; \
	  fi; \
	fi
	@if [ ! -d tests/smpp_peer/node_modules/smpp ]; then \
	  if ! command -v npm >/dev/null; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "Installing Debian's nodejs and npm for the SMPP test peer"; \
	      (apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
	       (apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null)); \
	    else \
	      echo "The SMPP tests need Node.js: sudo apt-get install nodejs npm" >&2; exit 1; \
	    fi; \
	  fi; \
	  echo "Installing the SMPP test peer (node-smpp)"; \
	  npm ci --prefix tests/smpp_peer --no-audit --no-fund --silent; \
	fi
	$(PY) -m tests.services_check
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
