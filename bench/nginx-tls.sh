#!/usr/bin/env bash
# Start (or, with "stop", stop) the benchmark nginx with TLS on 127.0.0.1:8443, pinned to
# CPU 0 (override: SERVER_CPU=n). Makes a private CA (ca.pem: give it to --cacert) and a
# certificate for localhost and 127.0.0.1 under /tmp/volley-nginx-tls. Needs the Debian packages
# nginx and openssl; installs nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix=/tmp/volley-nginx-tls
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
if [ "${1:-start}" = stop ]; then
    [ -s "$prefix/nginx.pid" ] && kill "$(cat "$prefix/nginx.pid")" 2>/dev/null || true
    exit 0
fi
[ -x "$NGINX" ] || { echo "nginx not found (apt-get install nginx)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl not found (apt-get install openssl)" >&2; exit 1; }
if [ -s "$prefix/nginx.pid" ] && kill -0 "$(cat "$prefix/nginx.pid")" 2>/dev/null; then
    echo "already running: master pid $(cat "$prefix/nginx.pid")"; exit 0
fi
mkdir -p "$prefix"/{www,logs,tmp}
chmod 755 "$prefix" "$prefix/www"
printf '%s\n' "volley benchmark body: small static file served by nginx on loopback. 0123456789abcdefghijklmn" > "$prefix/www/small"
if [ ! -s "$prefix/cert.pem" ]; then
    # A private CA (ca.pem, for --cacert) and a P-256 leaf it signs.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=volley bench CA" -keyout "$prefix/ca.key" -out "$prefix/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout "$prefix/key.pem" -out "$prefix/leaf.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$prefix/leaf.ext"
    openssl x509 -req -in "$prefix/leaf.csr" -CA "$prefix/ca.pem" -CAkey "$prefix/ca.key" \
        -CAcreateserial -days 30 -extfile "$prefix/leaf.ext" -out "$prefix/cert.pem" 2>/dev/null
fi
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$NGINX" -t -q -p "$prefix/" -e "$prefix/logs/error.log" -c "$here/nginx-tls/nginx.conf"
taskset -c "${SERVER_CPU:-0}" "$NGINX" -p "$prefix/" -e "$prefix/logs/error.log" -c "$here/nginx-tls/nginx.conf"
for _ in $(seq 50); do [ -s "$prefix/nginx.pid" ] && break; sleep 0.1; done
echo "nginx (TLS) master pid $(cat "$prefix/nginx.pid") on https://127.0.0.1:8443/small, CA $prefix/ca.pem"
