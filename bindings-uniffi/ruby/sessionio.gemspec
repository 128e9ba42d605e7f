# frozen_string_literal: true

require_relative "lib/sessionio/version"

Gem::Specification.new do |spec|
  spec.name = "sessionio"
  spec.version = Sessionio::VERSION
  spec.summary = "Sessions shared between a Rack app and its Socket.IO clients"
  spec.description = "sessionio's Rust engine (Socket.IO server, session store, expiry, " \
                     "rooms by session) through uniffi, with a Rack middleware."
  spec.license = "MIT"
  spec.authors = ["sessionio"]
  spec.required_ruby_version = ">= 3.1"
  # The native library inside is built for this machine (bash build.sh --gem).
  spec.platform = Gem::Platform.local
  spec.files = Dir["lib/**/*.rb"] + Dir["lib/sessionio/native/*.{so,dylib}"] + ["README.md"]
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", ">= 1.15"
  spec.add_dependency "rack", ">= 2.2"
end
