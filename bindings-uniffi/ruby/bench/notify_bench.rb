# frozen_string_literal: true

# What a notify_session call costs from Ruby (a blocking call; the GVL is released while
# the engine works), for a session with no socket and for one with 1000 connected
# websocket sockets (clients in a Node child process, bench/clients.mjs).
#
# Build the release library first, then run from the repository:
#
#   bash bindings-uniffi/ruby/build.sh --release
#   ruby -Ibindings-uniffi/ruby/lib bindings-uniffi/ruby/bench/notify_bench.rb [--json PATH]
#
# With sockets, calls run in rounds of at most ROUND calls, each followed by a wait until
# every client read every notification: a socket's outgoing queue never overflows, and
# every call must report all 1000 sockets reached.

require "json"
require "open3"
require "sessionio"

SOCKETS = 1000
ROUND = 500
ZERO_SOCKET_CALLS = Integer(ENV.fetch("BENCH_CALLS_EMPTY", 200_000))
FULL_CALLS = 2_000
COMMAND = "bash bindings-uniffi/ruby/build.sh --release && " \
          "ruby -Ibindings-uniffi/ruby/lib bindings-uniffi/ruby/bench/notify_bench.rb (run by bash bench/bindings.sh)"

def clock
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def measure(calls)
  [1000, calls / 10].min.times { |i| yield i } # warm-up
  started = clock
  calls.times { |i| yield i }
  clock - started
end

json_path = ARGV.index("--json")&.then { |i| ARGV.fetch(i + 1) }
engine = Sessionio::Engine.start(secret: "bench secret of at least thirty-two bytes!",
                                 max_connections_per_session: SOCKETS + 10, max_buffer_size: 4096)
rows = []

empty = engine.create_session
seconds = measure(ZERO_SOCKET_CALLS) { |i| engine.notify_session(empty.id, "tick", i) }
rows << ["notify_session", 0, ZERO_SOCKET_CALLS, seconds]

full = engine.create_session
token = engine.issue_token(full.id, 600)
clients = File.join(__dir__, "clients.mjs")
Open3.popen2("node", clients, engine.url, token, SOCKETS.to_s) do |stdin, stdout, waiter|
  ready = stdout.gets
  raise "clients: #{ready.inspect}" unless ready == "ready #{SOCKETS}\n"

  sent = 0
  wait_for_clients = lambda do
    loop do
      stdin.puts "count"
      break if Integer(stdout.gets[/\d+/]) >= sent

      sleep 0.005
    end
  end
  # Warm-up round, then the measured rounds.
  50.times do |i|
    reached = engine.notify_session(full.id, "tick", i)
    raise "notify reached #{reached} sockets, not #{SOCKETS}" unless reached == SOCKETS

    sent += SOCKETS
  end
  wait_for_clients.call
  busy = 0.0
  (FULL_CALLS / ROUND).times do
    started = clock
    ROUND.times do |i|
      reached = engine.notify_session(full.id, "tick", i)
      raise "notify reached #{reached} sockets, not #{SOCKETS}" unless reached == SOCKETS
    end
    busy += clock - started
    sent += ROUND * SOCKETS
    wait_for_clients.call
  end
  rows << ["notify_session", SOCKETS, FULL_CALLS, busy]
  stdin.puts "report"
  received = Integer(stdout.gets[/\d+/])
  raise "clients received #{received} of #{sent}" unless received == sent

  waiter.value
end
engine.close

puts "notify_session from Ruby #{RUBY_VERSION} (#{RUBY_PLATFORM}, ffi #{FFI::VERSION}, sessionio #{Sessionio::VERSION})"
puts
puts "Command: #{COMMAND}"
puts
puts "| API | sockets in the session | calls | calls/s | µs per call |"
puts "|---|---:|---:|---:|---:|"
rows.each do |api, sockets, calls, secs|
  puts format("| %s | %d | %d | %.0f | %.2f |", api, sockets, calls, calls / secs, secs / calls * 1e6)
end

if json_path
  figures = rows.map do |api, sockets, calls, secs|
    { label: "#{api} from Ruby (sync), #{sockets} sockets in the session",
      us_per_call: secs / calls * 1e6, calls_per_s: calls / secs, target_us: nil }
  end
  File.write(json_path, JSON.pretty_generate({ title: "notify_session call cost from Ruby",
                                               command: COMMAND, figures: figures }))
end
