#!/usr/bin/env bash
# Find or start the services the tests need: Redis on 127.0.0.1:6379 and PostgreSQL on
# 127.0.0.1:5432. Installs the Debian packages (redis-server, postgresql) when they are missing.
# Usage: scripts/ensure-services.sh [redis] [postgres]   (default: both)
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(redis postgres)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  echo "ensure-services: installing $* (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_redis() {
  if port_open 6379; then echo "ensure-services: Redis answers on 127.0.0.1:6379"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /tmp/batchqueue-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/batchqueue-redis --logfile /tmp/batchqueue-redis/redis.log
  for _ in $(seq 50); do port_open 6379 && break; sleep 0.2; done
  port_open 6379 || { echo "ensure-services: Redis did not start" >&2; exit 1; }
  echo "ensure-services: started Redis on 127.0.0.1:6379"
}

ensure_postgres() {
  if port_open 5432; then echo "ensure-services: PostgreSQL answers on 127.0.0.1:5432"; return; fi
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 50); do port_open 5432 && break; sleep 0.2; done
  port_open 5432 || { echo "ensure-services: PostgreSQL did not start" >&2; exit 1; }
  # A fresh Debian cluster uses password auth on TCP: give the postgres role the password the
  # test settings use (a machine with trust auth ignores it).
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  echo "ensure-services: started PostgreSQL $version on 127.0.0.1:5432"
}

for service in "${want[@]}"; do
  case "$service" in
    redis) ensure_redis ;;
    postgres) ensure_postgres ;;
    *) echo "ensure-services: unknown service $service" >&2; exit 2 ;;
  esac
done
