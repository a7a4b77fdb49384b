# Shared by the bench/ scripts: installs baselines, builds gio-ami in release mode, times commands.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages a baseline needs, installed where missing (apt-get as root, as on CI machines).
need_debian() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Sets GIO to a release build of gio-ami; GIO=path/to/gio-ami in the environment skips the build
# (e.g. a debug binary, which only makes gio-ami's side slower).
build_release() {
  if [ -n "${GIO:-}" ]; then
    # Absolute: the benchmarks cd into their work directories.
    GIO=$(realpath "$GIO")
    echo "bench: using GIO=$GIO" >&2
    return
  fi
  (cd "$bench_root" && cargo build --release --locked --quiet)
  GIO="${CARGO_TARGET_DIR:-$bench_root/target}/release/gio-ami"
}

# median_ms RUNS CMD... — runs CMD RUNS times (output discarded) and prints the median wall time.
median_ms() {
  local runs=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(((end - start) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
