#!/usr/bin/env bash
# apt-install.sh PACKAGE...: install Debian packages the tasks need, or say
# exactly why not. Runs apt-get update first only when an install fails.
set -euo pipefail
sudo=
if [ "$(id -u)" != 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "apt-install: installing $* needs root: run apt-get install -y $* as root" >&2
		exit 1
	fi
	sudo=sudo
fi
command -v apt-get >/dev/null || { echo "apt-install: no apt-get here: install $* with your package manager" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y "$@" >/dev/null 2>&1; then
	$sudo apt-get update >/dev/null
	$sudo apt-get install -y "$@" >/dev/null
fi
