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
# Installs Debian packages the tests need when CHECK fails: as root with apt-get,
# otherwise it says what to install and stops (the suite never skips for want of one).
# $(call debian_packages,CHECK,PACKAGES,WHAT FOR)
define debian_packages
@if ! $(1); then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "Installing Debian's $(2) for $(3)"; \
    (apt-get install -y -qq $(2) >/dev/null 2>&1 || \
     (apt-get update -qq && apt-get install -y -qq $(2) >/dev/null)); \
  else \
    echo "Missing Debian's $(2) for $(3): sudo apt-get install $(2)" >&2; exit 1; \
  fi; \
fi
endef

test: venv
	$(call debian_packages,command -v chromium >/dev/null,chromium,the browser tests)
	$(call debian_packages,test -x /usr/sbin/bearerbox -a -x /usr/lib/kannel/test/fakesmsc,kannel kannel-extras,the SMS gateway tests)
	$(call debian_packages,command -v xgettext >/dev/null,gettext,the translation tests)
	$(call debian_packages,command -v npm >/dev/null,nodejs npm,the SMPP test peer)
	@if [ ! -d tests/smpp_peer/node_modules/smpp ]; then \
	  echo "Installing the SMPP test peer (node-smpp)"; \
	  npm ci --prefix tests/smpp_peer --no-audit --no-fund --silent; \
	fi
	$(PY) -m tests.services_check
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
