# shellcheck shell=bash
# Sourced by scripts/check and scripts/demo (not run on its own): helpers that make
# sure what relayq's checks and demo need is installed, installing what is missing.
#
#   ensure_python         pick $PYTHON (>= 3.10) that pip may install into; on a
#                         distro Python that forbids it (PEP 668), use ./.venv
#   ensure_redis          redis-server on PATH (apt-get as root, else the command to run)
#   ensure_package EXTRA  this checkout installed editable with EXTRA (may be empty)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {  # apt_install PACKAGE...: as root, or say the exact command and stop
    if is_root && command -v apt-get >/dev/null 2>&1; then
        step "installing $* (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        die "$* is not installed. Install it with:

    sudo apt-get install -y $*
"
    fi
}

ensure_redis() {
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    command -v redis-server >/dev/null 2>&1 || die "redis-server is still not on PATH"
}

_pip_allowed() {  # pip works for $PYTHON and the environment is not externally managed
    "$PYTHON" -m pip --version >/dev/null 2>&1 && "$PYTHON" - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if in_venv or not os.path.exists(marker) else 1)
PY
}

_make_venv() {  # _make_venv BASE_PYTHON: create ./.venv (marked as ours) from BASE_PYTHON
    step "creating .venv (this Python does not allow pip installs)"
    if ! "$1" -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv  # a half-made one (no ensurepip) would be picked up next time
        apt_install python3-venv
        "$1" -m venv .venv
    fi
    touch .venv/.made-by-relayq-scripts
    printf '    (run `. .venv/bin/activate` to have the relayq command in your shell)\n' >&2
}

ensure_python() {
    if [ -z "${PYTHON:-}" ]; then
        PYTHON=python3
        if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then
            if .venv/bin/python -m pip --version >/dev/null 2>&1; then
                PYTHON=.venv/bin/python  # e.g. made by an earlier run of these scripts
            elif [ -e .venv/.made-by-relayq-scripts ]; then
                rm -rf .venv  # ours but broken: make it again below if needed
            fi
        fi
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "relayq needs Python >= 3.10; $PYTHON is $("$PYTHON" -V 2>&1)"
    if ! _pip_allowed; then
        # e.g. Debian 12's python3: no pip, and PEP 668 forbids installing into it
        _make_venv "$PYTHON"
        PYTHON=.venv/bin/python
    fi
    export PYTHON
}

ensure_package() {  # ensure_package EXTRA
    local extra=$1 spec=.
    [ -n "$extra" ] && spec=".[$extra]"
    if ! "$PYTHON" - "$extra" <<'PY'; then
# exit 0 when this checkout is installed editable, with every requirement of the
# base package and of EXTRA present, and pyproject.toml unchanged since the install
import json, os, re, sys
from importlib import metadata
from urllib.parse import unquote, urlparse

extra = sys.argv[1]
# look where an installed relayq lives, not at the checkout's own relayq.egg-info
sys.path = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(".")]
try:
    dist = metadata.distribution("relayq")
except metadata.PackageNotFoundError:
    sys.exit(1)
info = json.loads(dist.read_text("direct_url.json") or "{}")
if not info.get("dir_info", {}).get("editable"):
    sys.exit(1)
if os.path.realpath(unquote(urlparse(info["url"]).path)) != os.path.realpath("."):
    sys.exit(1)
meta = next((f for f in dist.files or () if f.name == "METADATA"), None)
if meta is None or os.path.getmtime("pyproject.toml") > os.path.getmtime(str(meta.locate())):
    sys.exit(1)
for req in dist.requires or ():
    spec, _, marker = req.partition(";")
    extras = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if extras and extra not in extras:
        continue
    name = re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
        step "installing relayq from this checkout: pip install -e '$spec'"
        "$PYTHON" -m pip install -q -e "$spec"
    fi
}

find_python() {  # find_python 3.10: an interpreter of that version (pyenv, then PATH), or nothing
    local version=$1 candidate root
    root=$(pyenv root 2>/dev/null || true)
    for candidate in "${root:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
        [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
    candidate=$(command -v "python$version" 2>/dev/null) || return 0
    "$candidate" -V >/dev/null 2>&1 && echo "$candidate"
    return 0
}

suite_on() {  # suite_on NAME PYTHON [PIP SPEC...]: the default pytest run in .venv-ci-NAME
    # (this checkout editable with its dev extra, then the given specs on top: pins).
    # The fault-injection runs and the wheel build stay on the main interpreter
    # only (together a minute and a half per run), so CI stays well under 20 minutes
    local name=$1 python=$2 venv=.venv-ci-$1
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv" || return 1
    fi
    "$venv/bin/python" -m pip install -q -e ".[dev]" || return 1
    if [ $# -gt 0 ]; then
        "$venv/bin/python" -m pip install -q "$@" || return 1
    fi
    "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        --ignore=tests/chaos --ignore=tests/test_wheel.py
}
