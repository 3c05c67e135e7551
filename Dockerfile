# syntax=docker/dockerfile:1
# layerq's two binaries, static, on a base with no shell, run as nonroot.
#   docker build -t layerq .
#   docker run --rm layerq --help            (layerq-ingest)
#   docker run --rm --entrypoint layerq layerq --help

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static: no cgo (gzip inflates with klauspost/compress instead of ISA-L).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/layerq-ingest ./cmd/ingest
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/layerq ./cmd/query

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/layerq-ingest /out/layerq /usr/local/bin/
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/layerq-ingest"]
