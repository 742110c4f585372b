#!/usr/bin/env bash
# Installs the real clients the PyPI end-to-end tests drive (edge/pypi):
# Debian's python3 with venv, setuptools and wheel (to build a wheel and an
# sdist), twine (to upload), and the wheels Debian ships under
# /usr/share/python-wheels (pip, setuptools, wheel), from which the tests
# build a local upstream index. All pinned by the Debian 12 release.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

apt_install python3 python3-venv python3-setuptools python3-wheel twine \
	python3-setuptools-whl python3-pip-whl python3-wheel-whl
