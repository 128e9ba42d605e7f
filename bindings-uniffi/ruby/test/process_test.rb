# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# `close` ends the process cleanly: no thread of the engine calls into a stopping VM.
class ProcessTest < Minitest::Test
  SCRIPT = <<~RUBY
    require "sessionio"
    require "net/http"
    engine = Sessionio::Engine.start(secret: "#{TestSupport::SECRET}")
    # An Engine.IO session is open (its timers run) when the engine closes.
    Net::HTTP.get(URI("\#{engine.url}/socket.io/?EIO=4&transport=polling"))
    engine.on("incr") { |socket| socket.session.increment("n") }
    session = engine.create_session
    session.increment("n")
    CLOSE ? engine.close : nil # without close, the gem closes it at exit
    puts "done"
  RUBY

  def run_script(close)
    Timeout.timeout(30) do
      # The gem this suite runs against: -Ilib's, or the installed one (GEM_HOME).
      gem_lib = $LOAD_PATH.select { |path| File.exist?(File.join(path, "sessionio.rb")) }
      Open3.capture3(RbConfig.ruby, *gem_lib.flat_map { |path| ["-I", path] },
                     "-e", "CLOSE = #{close}\n#{SCRIPT}")
    end
  end

  def test_close_then_exit
    out, err, status = run_script(true)
    assert_equal ["done\n", "", 0], [out, err, status.exitstatus]
  end

  def test_exit_without_close
    out, err, status = run_script(false)
    assert_equal ["done\n", "", 0], [out, err, status.exitstatus]
  end
end
