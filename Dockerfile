# Stockade: build once, run anywhere a container runs. Multi-stage: the toolchain stays in
# the build stage; the runtime image holds the binary, the demo policies and nothing else.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/stockade --create-home stockade
COPY --from=build /src/target/release/stockade /usr/local/bin/stockade
# The demo policies, for a first look only; mount real ones over /etc/stockade/policies.
COPY policies /etc/stockade/policies
USER stockade
WORKDIR /var/lib/stockade
ENV STOCKADE_LISTEN=0.0.0.0:8080 \
    STOCKADE_DATA_DIR=/var/lib/stockade/data \
    STOCKADE_POLICIES=/etc/stockade/policies \
    STOCKADE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["stockade"]
CMD ["serve"]
