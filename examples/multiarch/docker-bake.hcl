# The classic multi-arch release: one image for three platforms, pushed as one tag, plus a
# per-architecture variant loaded into the local engine for testing.

variable "REGISTRY" {
  default     = "127.0.0.1:5000"
  description = "Registry the release is pushed to"
}

variable "VERSION" {
  default     = "1.0.0"
  description = "Release version, used as the image tag"
}

group "default" {
  targets = ["release"]
}

target "_common" {
  context = "app"
  args = {
    VERSION = VERSION
  }
  labels = {
    "org.opencontainers.image.version" = VERSION
  }
  # Keep test builds off the network; the base image comes from the local store.
  network = "none"
}

# One multi-arch tag: every platform is built, pushed by digest, then the index is written.
target "release" {
  inherits    = ["_common"]
  description = "Multi-arch release pushed as one tag"
  platforms   = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
  tags        = ["${REGISTRY}/demo/hello:${VERSION}"]
  output      = ["type=registry"]
}

# The same image loaded into the local engine, one image per architecture.
target "local" {
  inherits    = ["_common"]
  description = "Per-architecture images loaded into the local engine"
  platforms   = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
  tags        = ["demo/hello:${VERSION}"]
  output      = ["type=docker"]
}
