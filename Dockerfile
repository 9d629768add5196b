# syntax=docker/dockerfile:1

# Verdict's container images.
#
#   docker build -t verdict .                    # the coordinator (default target)
#   docker build --target demo -t verdict-demo . # the bank example's commands
#
# The default image runs `verdict` as the distroless nonroot user (uid
# 65532) with its data in the volume /var/lib/verdict; give it --id and
# --peers (or VERDICT_ID and VERDICT_PEERS), and TLS flags or
# --insecure-plaintext. compose.yaml runs a 3-node cluster of it.

ARG GO_VERSION=1.26
# What --version reports (the build has no .git to read the revision from):
#   docker build --build-arg VERSION=$(git describe --always --dirty) .
ARG VERSION=dev

# ---- build: the binaries, static (no cgo), without paths or symbols -----
FROM golang:${GO_VERSION} AS build
ARG VERSION
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags="-s -w -X github.com/verdict-tx/verdict/internal/buildinfo.Version=${VERSION}" -o /out/ ./cmd/verdict ./cmd/verdictctl
# The data directory, owned by the nonroot user of the final image: a named
# volume mounted there starts as a copy of it, writable by that user.
RUN mkdir -p /rootfs/var/lib/verdict && chown 65532:65532 /rootfs/var/lib/verdict && chmod 0750 /rootfs/var/lib/verdict

# ---- build-demo: the bank example's commands ----------------------------
FROM build AS build-demo
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/ ./examples/bank/cmd/accounts ./examples/bank/cmd/transfer

# ---- demo: `accounts` and `transfer` (examples/bank), plus verdictctl ---
# No entrypoint: the command names the program, e.g.
#   docker run verdict-demo accounts --name bank-a --listen 0.0.0.0:9101 ...
FROM gcr.io/distroless/static-debian12:nonroot AS demo
COPY --from=build-demo /out/accounts /out/transfer /out/verdictctl /usr/local/bin/
USER nonroot

# ---- verdict: the coordinator (the default target: keep it last) --------
FROM gcr.io/distroless/static-debian12:nonroot AS verdict
COPY --from=build /out/verdict /out/verdictctl /usr/local/bin/
COPY --from=build --chown=65532:65532 /rootfs/var/lib/verdict /var/lib/verdict
# VERDICT_LISTEN=0.0.0.0: every interface, on the port of the node's own
# --peers entry (7400 unless --peers says otherwise).
ENV VERDICT_DATA_DIR=/var/lib/verdict \
    VERDICT_LISTEN=0.0.0.0 \
    VERDICT_METRICS_ADDR=0.0.0.0:9090 \
    VERDICT_LOG_FORMAT=json
VOLUME /var/lib/verdict
# 7400: clients, participants, operators and peers (gRPC); 9090: /metrics,
# /healthz and /readyz (HTTP; the HEALTHCHECK below asks it there, so keep
# VERDICT_METRICS_ADDR on port 9090).
EXPOSE 7400 9090
# Ready: the node has applied its log (see the health service). The probe
# is verdictctl's, as distroless has no shell or curl.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["verdictctl", "probe", "http://127.0.0.1:9090/readyz"]
USER nonroot
ENTRYPOINT ["verdict"]
