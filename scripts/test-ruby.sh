#!/usr/bin/env bash
# The Ruby binding's tests: installs Debian's Ruby packages when missing (ruby, ruby-ffi,
# ruby-rack, ruby-sinatra, puma, ruby-minitest: these machines reach no other gem source),
# builds the engine's library and the uniffi-generated module (dev profile, the workspace's
# target/), packs the gem and installs it with `gem install --local` into a fresh
# GEM_HOME, then runs the minitest suites and the end-to-end contract suite (tests/e2e, tests/users)
# against examples/ruby-sinatra, both on the installed gem.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's header says when it starts (seconds into this script): what a step costs.
step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }

packages=(ruby ruby-ffi ruby-rack ruby-sinatra puma ruby-minitest)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "the gem: bindings-uniffi/ruby/build.sh --gem (dev build), gem install --local"
rm -f bindings-uniffi/ruby/sessionio-*.gem
bash bindings-uniffi/ruby/build.sh --gem
GEM_HOME="$(mktemp -d)"
export GEM_HOME
trap 'rm -rf "$GEM_HOME"' EXIT
gem install --local --no-document bindings-uniffi/ruby/sessionio-*.gem

step "minitest (bindings-uniffi/ruby/test, on the installed gem)"
(cd bindings-uniffi/ruby && ruby -Itest -e 'Dir["test/*_test.rb"].sort.each { |f| require_relative f }')

if [ ! -d tests/node_modules/socket.io-client ]; then
  step "npm packages (tests)"
  npm ci --prefix tests --no-audit --no-fund --loglevel=error
fi

step "end-to-end contract against examples/ruby-sinatra (Puma; Socket.IO on the engine's own port)"
(cd tests && SESSIONIO_EXAMPLE="ruby examples/ruby-sinatra/app.rb" node --test e2e/ sessions/ users/)
