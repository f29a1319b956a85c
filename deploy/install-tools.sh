#!/bin/sh
# The tools tests/deploy runs, installed only when missing and quietly (make tools; Debian bookworm, as root):
#   docker-compose   Debian's docker-compose 1.29, to check deploy/compose.yaml (`docker-compose config`)
#   kubectl 1.20     Debian's kubernetes-client, unpacked under $1 (default .venv/tools), not installed system-wide:
#                    its kustomize v2 renders deploy/k8s the same as the current kubectl does (if there is one).
#   promtool         from Debian's prometheus package, unpacked under $1 (only promtool is used: the alert rules'
#                    unit tests, `promtool test rules deploy/prometheus/tests/*.yaml`).
# kubernetes-validate and hadolint come from requirements.lock.
set -eu
tools_dir="${1:-.venv/tools}"
old_kubectl="$tools_dir/kubernetes-client/usr/bin/kubectl"

need_compose=no
command -v docker-compose >/dev/null 2>&1 || need_compose=yes
need_kubectl=no
[ -x "$old_kubectl" ] || need_kubectl=yes
promtool="$tools_dir/prometheus/usr/bin/promtool"
need_promtool=no
command -v promtool >/dev/null 2>&1 || [ -x "$promtool" ] || need_promtool=yes
[ "$need_compose$need_kubectl$need_promtool" = nonono ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "tools: not Debian as root; install docker-compose and kubectl yourself (tests/deploy needs them)" >&2
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
{
    apt-get update -qq
    if [ "$need_compose" = yes ]; then
        echo "tools: apt-get install docker-compose" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose
    fi
    if [ "$need_kubectl" = yes ]; then
        echo "tools: unpacking Debian's kubernetes-client into $tools_dir" >&2
        work="$(mktemp -d)"
        chmod 755 "$work"   # apt's download sandbox user must be able to write there
        (cd "$work" && apt-get download -qq kubernetes-client)
        mkdir -p "$tools_dir/kubernetes-client"
        dpkg-deb -x "$work"/kubernetes-client_*.deb "$tools_dir/kubernetes-client"
        rm -rf "$work"
    fi
    if [ "$need_promtool" = yes ]; then
        echo "tools: unpacking promtool from Debian's prometheus into $tools_dir" >&2
        work="$(mktemp -d)"
        chmod 755 "$work"
        (cd "$work" && apt-get download -qq prometheus)
        dpkg-deb -x "$work"/prometheus_*.deb "$work/unpacked"
        mkdir -p "$tools_dir/prometheus/usr/bin"
        cp "$work/unpacked/usr/bin/promtool" "$promtool"
        rm -rf "$work"
    fi
} >"$log" 2>&1 || { cat "$log" >&2; echo "tools: failed" >&2; exit 1; }
