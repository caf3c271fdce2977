#!/usr/bin/env bash
# Fetches a prebuilt llama.cpp (libllama + ggml, CPU backends) and its
# matching headers from npm into build/conformance/, for
# tests/test_conformance.c. Idempotent; fails soft (exit 0 with a message)
# when npm, git or the registry is unavailable, so the test just skips.
#
#   build/conformance/lib/      libllama.so (symlink), libggml*.so, CPU variants
#   build/conformance/include/  llama.h and ggml headers of the same commit
#   build/conformance/layout.txt  sizeof/offsetof of the structs the test
#                                 passes by value, from the real headers
#   build/conformance/VERSION   the package version installed
set -u
VERSION=${TTC_LLAMA_NPM_VERSION:-3.22.1}
BIN_PKG=@node-llama-cpp/linux-x64
SRC_PKG=node-llama-cpp
cd "$(dirname "$0")/.."
dir=build/conformance

if [ -f "$dir/VERSION" ] && [ "$(cat "$dir/VERSION")" = "$VERSION" ] && [ -e "$dir/lib/libllama.so" ]; then
  echo "conformance-setup: llama.cpp from $SRC_PKG $VERSION already in $dir"
  exit 0
fi
soft() { echo "conformance-setup: skipped: $*" >&2; exit 0; }
command -v npm >/dev/null || soft "npm not found"
command -v git >/dev/null || soft "git not found"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || soft "prebuilt binaries are for Linux x86_64 only"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack fetches just the two tarballs (node-llama-cpp's own dependency
# tree is not needed: we only want its llama.cpp sources).
(cd "$tmp" && npm pack --silent "$BIN_PKG@$VERSION" "$SRC_PKG@$VERSION" >/dev/null 2>"$tmp/npm.log") ||
  soft "npm pack $BIN_PKG@$VERSION $SRC_PKG@$VERSION failed: $(tail -n 2 "$tmp/npm.log" | tr '\n' ' ')"
mkdir -p "$tmp/bin" "$tmp/src"
tar xzf "$tmp"/node-llama-cpp-linux-x64-"$VERSION".tgz -C "$tmp/bin" || soft "cannot unpack $BIN_PKG"
tar xzf "$tmp"/node-llama-cpp-"$VERSION".tgz -C "$tmp/src" package/llama/gitRelease.bundle ||
  soft "cannot unpack the llama.cpp bundle of $SRC_PKG"

rm -rf "$dir.new" && mkdir -p "$dir.new/lib" "$dir.new/include"
cp "$tmp"/bin/package/bins/linux-x64/*.so "$tmp"/bin/package/bins/linux-x64/_nlcBuildMetadata.json "$dir.new/lib/"
lib=$(cd "$dir.new/lib" && ls libllama.*so 2>/dev/null | grep -v common | head -n 1)
[ -n "$lib" ] || soft "no libllama in $BIN_PKG@$VERSION"
ln -s "$lib" "$dir.new/lib/libllama.so"
ggml=$(cd "$dir.new/lib" && ls libggml.*so 2>/dev/null | head -n 1)
[ -n "$ggml" ] && ln -s "$ggml" "$dir.new/lib/libggml.so"

# Headers of the exact commit the binaries were built from.
git -C "$tmp" init -q repo && git -C "$tmp/repo" fetch -q "$tmp/src/package/llama/gitRelease.bundle" HEAD 2>/dev/null ||
  soft "cannot read the llama.cpp git bundle"
git -C "$tmp/repo" archive FETCH_HEAD include ggml/include | tar x -C "$tmp" ||
  soft "cannot extract headers from the llama.cpp bundle"
cp "$tmp"/include/*.h "$tmp"/ggml/include/*.h "$dir.new/include/"
git -C "$tmp/repo" rev-parse FETCH_HEAD > "$dir.new/COMMIT"
[ -s "$dir.new/include/llama.h" ] || soft "llama.h missing from the bundle"

# Struct layouts as the real headers define them; the test compares its own
# declarations against these numbers before calling anything.
cat > "$tmp/layout.c" <<'EOF'
#include <stddef.h>
#include <stdio.h>
#include "llama.h"
#define P(s, f) printf(#s "." #f " %zu\n", offsetof(struct s, f))
int main(void) {
    printf("llama_model_params %zu\n", sizeof(struct llama_model_params));
    P(llama_model_params, n_gpu_layers);
    P(llama_model_params, vocab_only);
    P(llama_model_params, use_extra_bufts);
    printf("llama_context_params %zu\n", sizeof(struct llama_context_params));
    P(llama_context_params, n_ctx);
    P(llama_context_params, n_batch);
    P(llama_context_params, n_ubatch);
    P(llama_context_params, n_seq_max);
    P(llama_context_params, n_threads);
    P(llama_context_params, n_threads_batch);
    P(llama_context_params, flash_attn_type);
    P(llama_context_params, yarn_ext_factor);
    P(llama_context_params, type_k);
    P(llama_context_params, embeddings);
    P(llama_context_params, offload_kqv);
    P(llama_context_params, no_perf);
    P(llama_context_params, ctx_other);
    printf("llama_batch %zu\n", sizeof(struct llama_batch));
    P(llama_batch, logits);
    return 0;
}
EOF
cc -std=c11 -I"$dir.new/include" -o "$tmp/layout" "$tmp/layout.c" && "$tmp/layout" > "$dir.new/layout.txt" ||
  soft "cannot compile against the bundled llama.h"

echo "$VERSION" > "$dir.new/VERSION"
rm -rf "$dir" && mv "$dir.new" "$dir"
echo "conformance-setup: llama.cpp $(cat "$dir/COMMIT" | cut -c1-12) from $SRC_PKG $VERSION in $dir"
