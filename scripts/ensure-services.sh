#!/usr/bin/env bash
# Find or start the services the tests and the demo need: Redis at the host and port of
# REDIS_URL (default redis://127.0.0.1:6379/0) and PostgreSQL at those of DATABASE_URL
# (default postgres://postgres:postgres@127.0.0.1:5432/postgres). A server is started only when
# its host is local (127.0.0.1 or localhost); the Debian packages (redis-server, postgresql) are
# installed when they are missing.
# Usage: scripts/ensure-services.sh [redis] [postgres]   (default: both)
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(redis postgres)

REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
DATABASE_URL=${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  echo "ensure-services: installing $* (Debian packages)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# parse_url URL DEFAULT_PORT: sets url_scheme, url_user, url_password, url_host, url_port.
parse_url() {
  local rest=$1 auth=""
  url_scheme=${rest%%://*}
  rest=${rest#*://}
  rest=${rest%%[/?#]*}              # host part only: drop the path (database) and query
  if [[ $rest == *@* ]]; then auth=${rest%@*}; rest=${rest##*@}; fi
  url_user=${auth%%:*}
  url_password=""
  [[ $auth == *:* ]] && url_password=${auth#*:}
  if [[ $rest == \[* ]]; then       # [IPv6]:port
    url_host=${rest%%]*}; url_host=${url_host#[}; url_port=${rest#*]}; url_port=${url_port#:}
  else
    url_host=${rest%%:*}; url_port=""
    [[ $rest == *:* ]] && url_port=${rest#*:}
  fi
  url_host=${url_host:-127.0.0.1}
  url_port=${url_port:-$2}
  if ! [[ $url_port =~ ^[0-9]+$ ]]; then
    echo "ensure-services: cannot read a port from $url_scheme://$url_host:$url_port" >&2
    exit 2
  fi
}

is_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ]; }

# A remote host that drops packets must not hang the script: give up after 3 seconds.
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 50); do port_open "$1" "$2" && return 0; sleep 0.2; done
  return 1
}

ensure_redis() {
  parse_url "$REDIS_URL" 6379
  case "$url_scheme" in
    redis|rediss) ;;
    *) echo "ensure-services: REDIS_URL is a $url_scheme URL; not checking Redis"; return ;;
  esac
  local host=$url_host port=$url_port
  if port_open "$host" "$port"; then echo "ensure-services: Redis answers on $host:$port"; return; fi
  if ! is_local "$host"; then
    echo "ensure-services: nothing answers on $host:$port (REDIS_URL), which is not local;" \
      "start that Redis or point REDIS_URL at another" >&2
    exit 1
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  local dir=/tmp/batchqueue-redis/$port
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log"
  wait_for_port "$host" "$port" || { echo "ensure-services: Redis did not start" >&2; exit 1; }
  echo "ensure-services: started Redis on $host:$port"
}

ensure_postgres() {
  parse_url "$DATABASE_URL" 5432
  case "$url_scheme" in
    postgres|postgresql|pgsql|postgis) ;;
    *) echo "ensure-services: DATABASE_URL is a $url_scheme URL; not checking PostgreSQL"; return ;;
  esac
  local host=$url_host port=$url_port user=${url_user:-postgres} password=$url_password
  if port_open "$host" "$port"; then
    echo "ensure-services: PostgreSQL answers on $host:$port"
    return
  fi
  if ! is_local "$host"; then
    echo "ensure-services: nothing answers on $host:$port (DATABASE_URL), which is not local;" \
      "start that PostgreSQL or point DATABASE_URL at another" >&2
    exit 1
  fi
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  # The cluster configured for this port, else a new one of the newest version on it.
  local version name
  read -r version name < <(pg_lsclusters -h | awk -v p="$port" '$3 == p { print $1, $2; exit }') \
    || true
  if [ -z "${version:-}" ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    name=main
    if [ -d "/etc/postgresql/$version/main" ]; then name=batchqueue$port; fi
    echo "ensure-services: creating PostgreSQL cluster $version/$name on port $port"
    as_root pg_createcluster -q -p "$port" "$version" "$name" >/dev/null
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start || true
  wait_for_port "$host" "$port" || { echo "ensure-services: PostgreSQL did not start" >&2; exit 1; }
  # A fresh Debian cluster uses password auth on TCP: give the postgres role the password of
  # DATABASE_URL (a machine with trust auth ignores it).
  if [ "$user" = postgres ] && [ -n "$password" ]; then
    password=$(printf '%b' "${password//%/\\x}")   # URL-decode (%40 -> @)
    # On stdin, so no shell ever parses the password.
    printf "ALTER USER postgres PASSWORD '%s'\n" "${password//\'/\'\'}" \
      | as_root su postgres -c "psql -q -p $port" >/dev/null
  fi
  echo "ensure-services: started PostgreSQL $version/$name on $host:$port"
}

for service in "${want[@]}"; do
  case "$service" in
    redis) ensure_redis ;;
    postgres) ensure_postgres ;;
    *) echo "ensure-services: unknown service $service" >&2; exit 2 ;;
  esac
done
