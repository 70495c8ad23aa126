# rbake's own additions, read after docker-bake.hcl (bake ignores this file, so
# `docker buildx bake` still reads docker-bake.hcl unchanged).

# The local engine: amd64 natively, arm64 and arm/v7 through qemu (binfmt_misc).
builder "local" {
  platforms       = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
  native          = ["linux/amd64"]
  max-parallelism = 4
}
