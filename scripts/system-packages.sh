#!/bin/sh
# Install the Debian packages trainjobs can use, when this user may.
#
#   sh scripts/system-packages.sh            Fashion-MNIST and Chromium
#   sh scripts/system-packages.sh dataset    Fashion-MNIST only
#   sh scripts/system-packages.sh bench      wrk, the HTTP load generator
#
# Fashion-MNIST comes from `dataset-fashion-mnist` (/usr/share/datasets);
# the browser tests drive Debian's `chromium`. Without root (or password-less
# sudo) nothing is installed: the script says what to run instead.
set -eu

wanted=""
case "${1:-all}" in
  dataset) wanted="dataset-fashion-mnist" ;;
  browser) wanted="chromium" ;;
  bench) wanted="wrk" ;;
  all) wanted="dataset-fashion-mnist chromium" ;;
  *) echo "usage: $0 [all|dataset|browser|bench]" >&2; exit 2 ;;
esac

missing=""
for package in $wanted; do
  case "$package" in
    dataset-fashion-mnist) [ -d /usr/share/datasets/fashion-mnist ] || missing="$missing $package" ;;
    chromium) [ -x /usr/bin/chromium ] || missing="$missing $package" ;;
    wrk) command -v wrk >/dev/null 2>&1 || missing="$missing $package" ;;
  esac
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "trainjobs: not a Debian system; install$missing yourself to use them" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  echo "trainjobs: missing Debian packages:$missing" >&2
  echo "trainjobs: install them with: sudo apt-get install$missing" >&2
  exit 0
fi

echo "trainjobs: installing$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
