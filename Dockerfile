# The production-like image of the `legami` server (used by docker-compose.yml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p legami-server

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/legami legami \
    && mkdir -p /var/lib/legami && chown legami /var/lib/legami
COPY --from=build /src/target/release/legami /usr/local/bin/legami
USER legami
WORKDIR /var/lib/legami
ENV LEGAMI_BIND=0.0.0.0:8080 LEGAMI_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["legami"]
CMD ["serve"]
