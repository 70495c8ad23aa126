# A monorepo: two services built on a shared base image through `target:` contexts.

variable "TAG" {
  default = "dev"
}

group "default" {
  targets = ["api", "worker"]
}

target "base" {
  context   = "base"
  platforms = ["linux/amd64", "linux/arm64"]
  network   = "none"
}

target "api" {
  context   = "api"
  contexts  = { base = "target:base" }
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["demo/api:${TAG}"]
  output    = ["type=docker"]
  network   = "none"
}

target "worker" {
  inherits = ["api"]
  context  = "worker"
  tags     = ["demo/worker:${TAG}"]
}
