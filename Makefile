# Labdeck: `make run` sets everything up and serves it; `make test` tests it;
# `make production` serves it on the production layout (deploy/production/).
PY := .venv/bin/python
export LABDECK_IMAGE_CACHE ?= /var/lib/labdeck/images
# Every docker command of the build and the tests talks to the sandbox engine.
export DOCKER_HOST := unix://$(or $(LABDECK_ENGINE_SOCKET),/run/labdeck/engine.sock)

.PHONY: run test bench setup test-setup production production-stop production-setup images lint vendor clean

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py hosts
	deploy/serve.sh

test: test-setup
	.venv/bin/ruff check .
	.venv/bin/pytest

production: production-setup
	deploy/production/start.sh

production-stop:
	deploy/production/stop.sh

bench: test-setup .venv/.bench-installed
	$(PY) -m bench

setup: .venv/.installed
	deploy/setup-host.sh
	deploy/images.sh

production-setup: .venv/.installed
	deploy/setup-host.sh --production
	deploy/images.sh

test-setup: .venv/.installed
	deploy/setup-host.sh --test
	deploy/images.sh

.venv/.installed: requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install -q -r requirements.txt
	touch $@

.venv/.bench-installed: requirements-bench.txt .venv/.installed
	.venv/bin/pip install -q -r requirements-bench.txt
	touch $@

lint:
	.venv/bin/ruff check .

vendor:
	deploy/vendor-xterm.sh
	deploy/vendor-codemirror.sh

clean:
	rm -rf .venv db.sqlite3 var
