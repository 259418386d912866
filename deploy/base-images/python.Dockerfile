# Python 3.11 from Debian's packages: what deploy/Dockerfile needs of python:3.11-slim-bookworm
# (`python` and `python -m venv` on PATH, useradd/groupadd, TLS roots for pip).
ARG DEBIAN_IMAGE=csms-base/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3.11 python3.11-venv python-is-python3 ca-certificates passwd \
 && rm -rf /var/lib/apt/lists/*
# Extra trusted roots (build.sh's EXTRA_CA_DIR; usually none).
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV LANG=C.UTF-8
CMD ["python"]
