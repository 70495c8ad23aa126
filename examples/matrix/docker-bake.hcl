# A matrix: one target block expands into one target per combination.

target "tool" {
  name = "tool-${distro}-${replace(platform, "/", "-")}"
  matrix = {
    distro   = ["alpine", "debian"]
    platform = ["linux/amd64", "linux/arm64"]
  }
  context   = "tool"
  args      = { DISTRO = distro }
  platforms = [platform]
  tags      = ["demo/tool:${distro}-${replace(platform, "/", "-")}"]
  output    = ["type=docker"]
}
