#!/usr/bin/env bash
# The services the tests run for real: redis-server (+ redis-cli), haproxy, prometheus (+ promtool).
# Missing ones are installed with apt when this runs as root on Debian/Ubuntu (unless
# MCP_TEST_NO_INSTALL=1); otherwise it stops at once and prints the one command that installs them.
set -euo pipefail

declare -A package_of=([redis-server]=redis-server [redis-cli]=redis-server [haproxy]=haproxy [prometheus]=prometheus [promtool]=prometheus)
missing=()
for bin in redis-server redis-cli haproxy prometheus promtool; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${package_of[$bin]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
command="apt-get update && apt-get install -y --no-install-recommends ${packages% }"

if [ "${MCP_TEST_NO_INSTALL:-0}" != "1" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${packages% } (tests run them for real)"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' own services must not start: the tests start and stop their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends ${packages% }
  exit 0
fi

cat >&2 <<MSG
The tests run real services that are not installed here: ${packages% }
Install them with (as root, or with sudo):

  ${command}

then run npm test again.
MSG
exit 1
