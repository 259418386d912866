# RabbitMQ from Debian's packages (3.10 on bookworm: quorum queues and x-delivery-limit, all the
# CSMS needs), configured like the official image as far as the CSMS stack uses it:
# RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS, data in /var/lib/rabbitmq (a volume), the
# management and Prometheus plugins, `rabbitmq-diagnostics` on PATH.
ARG DEBIAN_IMAGE=csms-base/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* \
 && rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus \
 && chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
COPY rabbitmq-entrypoint.sh /usr/local/bin/rabbitmq-entrypoint.sh
ENV LANG=C.UTF-8 HOME=/var/lib/rabbitmq RABBITMQ_LOGS=-
USER rabbitmq
VOLUME /var/lib/rabbitmq
EXPOSE 5672 15672 15692
ENTRYPOINT ["/usr/local/bin/rabbitmq-entrypoint.sh"]
