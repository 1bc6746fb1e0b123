# syntax=docker/dockerfile:1

# Build:  docker build --build-arg VERSION=$(git describe --tags --always) -t xdr-kafka-connector .
# Run:    docker run --rm -e XDR_BASE_URL=... -e XDR_API_KEY_ID=... \
#           -e XDR_API_KEY_FILE=/run/secrets/xdr-api-key -v $PWD/api-key.txt:/run/secrets/xdr-api-key:ro \
#           -e KAFKA_BROKERS=kafka:9092 -e HTTP_ADDR=:8080 -p 8080:8080 xdr-kafka-connector

# ---- build stage: a static binary, cross-compiled on the build platform ----
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src

# Dependencies first, so source edits do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /connector ./cmd/connector

# ---- final stage: no shell, no package manager, runs as uid/gid 65532 ----
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="xdr-kafka-connector" \
      org.opencontainers.image.description="Streams Cortex XDR / Xpanse incidents into Kafka" \
      org.opencontainers.image.source="https://github.com/soc-tools/xdr-kafka-connector" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /connector /connector
# The Helm chart's securityContext uses the same numeric ids (runAsUser/runAsGroup 65532).
USER 65532:65532
# /metrics, /healthz, /readyz when HTTP_ADDR=:8080.
EXPOSE 8080
ENTRYPOINT ["/connector"]
CMD ["run"]
