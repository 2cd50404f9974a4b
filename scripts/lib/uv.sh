# Sourced by scripts/dev and scripts/test: sets UV to a working uv command, installing uv with
# pip when there is none. uv then installs the right Python and the locked dependencies itself.

find_uv() {
  if command -v uv >/dev/null 2>&1; then UV=(uv); return 0; fi
  local candidate
  for candidate in "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do
    if [ -x "$candidate" ]; then UV=("$candidate"); return 0; fi
  done
  if python3 -m uv --version >/dev/null 2>&1; then UV=(python3 -m uv); return 0; fi
  return 1
}

ensure_uv() {
  find_uv && return 0
  echo "uv is not installed; installing it with pip ..." >&2
  # A user install first; Debian-style system Pythons (PEP 668) need the override flag; inside
  # a virtual environment only a plain install works.
  python3 -m pip install --user --quiet uv 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages uv 2>/dev/null \
    || python3 -m pip install --quiet uv 2>/dev/null \
    || pip install --quiet uv \
    || true
  find_uv && return 0
  echo "Could not install uv with pip. Install it by hand" \
    "(https://docs.astral.sh/uv/getting-started/installation/) and run this again." >&2
  exit 1
}
