# Relais: `make run` starts the forum on its defaults, `make test` runs every test.
# Both set everything up first on a fresh Debian machine with Python 3.11.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.toml
STAMP  := $(VENV)/.installed

.PHONY: run test bench install system-deps browser-deps oidc-deps translations clean

# Debian's python3 has no venv module until python3-venv is installed.
system-deps:
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "Installing python3-venv (Debian package)…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q python3-venv; }

# The browser tests drive Debian's Chromium (never a downloaded browser) and inject
# axe-core from the npm registry into the pages they check.
AXE := build/axe-core/node_modules/axe-core/axe.min.js

browser-deps: $(AXE)
	@[ -x /usr/bin/chromium ] || { \
	  echo "Installing chromium (Debian package)…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

$(AXE):
	@command -v npm >/dev/null || { \
	  echo "Installing npm (Debian package)…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q npm; }
	mkdir -p build/axe-core
	npm install --no-save --no-audit --no-fund --silent --prefix build/axe-core axe-core@4

# The OpenID Connect tests sign in through a real provider: Debian's LemonLDAP::NG portal,
# served by Plack on 127.0.0.1 by the tests themselves (tests/oidc_provider.py), with the
# Perl modules its OpenID Connect issuer and its login page load.
OIDC_PACKAGES := liblemonldap-ng-portal-perl libplack-perl libcrypt-openssl-bignum-perl \
  libstring-random-perl libgd-securityimage-perl libimage-magick-perl libio-string-perl libconvert-base32-perl

oidc-deps:
	@perl -MLemonldap::NG::Portal::Main -MPlack -MString::Random -MImage::Magick -MGD::SecurityImage \
	  -MCrypt::OpenSSL::Bignum -e1 2>/dev/null || { \
	  echo "Installing LemonLDAP::NG (Debian packages)…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $(OIDC_PACKAGES); }

# After changing a text of the web pages: refresh the catalogues, translate the new entries
# in translations/fr/LC_MESSAGES/messages.po, then run this again to compile them.
translations: install
	$(BIN)/pybabel extract -F babel.cfg --no-location --no-wrap --sort-output --project=Relais \
	  -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-wrap --ignore-obsolete
	$(BIN)/pybabel compile -d translations --statistics

$(STAMP): setup.cfg pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

install: $(STAMP)

run: install
	$(BIN)/relais --config $(CONFIG) init
	$(BIN)/relais --config $(CONFIG) serve

test: install browser-deps oidc-deps
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/search.py

clean:
	rm -rf $(VENV) var *.egg-info
