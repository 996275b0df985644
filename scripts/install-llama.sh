#!/usr/bin/env bash
# Build (once) and install llama-cpp-python for this CPU, never with native / AMX kernels.
#
# A default build uses -march=native, and on CPUs that report AMX its first decode segfaults in
# ggml's AMX matmul. So we build with GGML_NATIVE=OFF and turn on only the x86 extensions this
# CPU reports. pip's wheel cache ignores CMAKE_ARGS, so the wheel is kept in a folder named
# after the flags instead, and pip's own cache is bypassed.
set -euo pipefail
PY=${1:?usage: install-llama.sh PYTHON}
VERSION=0.3.36
args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
args="$args -DGGML_AVX512=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
if [ "$(uname -m)" = x86_64 ]; then
  cpu=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  for f in avx avx2 fma f16c bmi2; do
    upper=$(echo "$f" | tr a-z A-Z)
    case "$cpu" in *" $f "*) args="$args -DGGML_$upper=ON" ;; *) args="$args -DGGML_$upper=OFF" ;; esac
  done
fi
tag=$(echo "$VERSION $args" | sha256sum | cut -c1-12)
dir=".cache/wheels/llama-$tag"
stamp="$($PY -c 'import sys; print(sys.prefix)')/.llama-$tag"
if [ -f "$stamp" ]; then exit 0; fi
if ! ls "$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $VERSION for this CPU (about 8 minutes on 2 cores, once)..."
  echo "  CMAKE_ARGS=$args"
  mkdir -p "$dir"
  CMAKE_ARGS="$args" "$PY" -m pip wheel --no-deps --no-cache-dir -w "$dir" \
    "llama-cpp-python==$VERSION"
fi
"$PY" -m pip install --force-reinstall --no-deps "$dir"/llama_cpp_python-*.whl
touch "$stamp"
