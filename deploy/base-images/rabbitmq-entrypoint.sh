#!/bin/bash
# Write rabbitmq.conf from RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS (used when the node
# creates its database on first start, like the official image), then run the server.
set -euo pipefail
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users = none
listeners.tcp.default = 5672
management.tcp.port = 15672
log.console = true
log.console.level = info
CONF
exec rabbitmq-server "$@"
