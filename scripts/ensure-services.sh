#!/usr/bin/env bash
# Make sure the services the test suite talks to are installed and running:
# PostgreSQL (127.0.0.1:5432, trust auth), Redis (6379), RabbitMQ (5672).
# Installs from Debian's packages when missing; never stops a running service.
set -uo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 "${2:-60}"); do port_open "$1" && return 0; sleep 1; done; return 1; }

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not available: install $* by hand"; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if ! port_open 5432; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
      log "installing PostgreSQL"; apt_install postgresql || return 1
    fi
    local ver; ver=$(ls /etc/postgresql | sort -V | tail -n1)
    local hba="/etc/postgresql/$ver/main/pg_hba.conf"
    # Tests connect as 'postgres' over TCP without a password (trust auth).
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba" 2>/dev/null; then
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
    fi
    log "starting PostgreSQL $ver"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    wait_port 5432 30 || { log "PostgreSQL did not come up"; return 1; }
  fi
  log "PostgreSQL up"
}

ensure_redis() {
  if ! port_open 6379; then
    command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server || return 1; }
    mkdir -p /var/lib/redis /var/log/redis
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_port 6379 20 || { log "Redis did not come up"; return 1; }
  fi
  log "Redis up"
}

ensure_rabbitmq() {
  if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null || { log "installing RabbitMQ"; apt_install rabbitmq-server || return 1; }
    log "starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_port 5672 90 || { log "RabbitMQ did not come up"; return 1; }
  fi
  log "RabbitMQ up"
}

status=0
ensure_postgres || status=1
ensure_redis || status=1
ensure_rabbitmq || status=1
exit $status
