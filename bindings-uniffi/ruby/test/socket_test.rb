# frozen_string_literal: true

require_relative "test_helper"

class SocketTest < Minitest::Test
  include TestSupport

  def engine_with_handlers
    engine = start_engine
    engine.on("incr") do |socket|
      session = socket.session or raise Sessionio::HandlerError, "session required"
      n = session.increment("count")
      session.notify("current count", n)
      n
    end
    engine.on("echo") { |_socket, *args| args }
    engine.on("refuse") { raise Sessionio::HandlerError, "not today" }
    engine.on("crash") { raise "secret detail" }
    engine.on("unsendable") { Object.new }
    engine
  end

  def test_handler_values_answer_the_ack
    engine = engine_with_handlers
    session, cookie = session_and_cookie(engine)
    client = connect(engine, cookie: cookie)
    assert_equal [1], client.emit_with_ack("incr")
    assert_equal ["current count", 1], client.next_event
    assert_equal [2], client.emit_with_ack("incr")
    assert_equal 2, session["count"]
  end

  # The contract's rule: a HandlerError's message reaches the client; anything else is
  # `internal error`, logged here, and the server keeps serving.
  def test_a_handler_that_raises
    engine = engine_with_handlers
    _, cookie = session_and_cookie(engine)
    client = connect(engine, cookie: cookie)
    logged = StringIO.new
    Sessionio.logger = Logger.new(logged)
    assert_equal [{ "error" => "not today" }], client.emit_with_ack("refuse")
    assert_equal [{ "error" => "internal error" }], client.emit_with_ack("crash")
    assert_match(/handler of 'crash' raised RuntimeError: secret detail/, logged.string)
    assert_match(/socket_test\.rb:\d+/, logged.string, "the backtrace is logged")
    assert_equal [{ "error" => "internal error" }], client.emit_with_ack("unsendable")
    assert_match(/an? Object cannot be sent/, logged.string)
    assert_equal [1], client.emit_with_ack("incr")
  ensure
    Sessionio.logger = nil
  end

  def test_values_cross_both_ways
    engine = engine_with_handlers
    _, cookie = session_and_cookie(engine)
    client = connect(engine, cookie: cookie)
    values = [2**53 + 1, -(2**63), 2**64 - 1, 0.1, -1.5e300, "né ✓ 日本", nil, true, false,
              { "nested" => { "list" => [1, [2, [3, { "deep" => nil }]]] } }, [], {}]
    assert_equal [values], client.emit_with_ack("echo", *values)
    binary = "\x00\xff\x10binary".b
    reply = client.emit_with_ack("echo", { "file" => binary, "name" => "a.bin" })
    assert_equal [[{ "file" => binary, "name" => "a.bin" }]], reply
    assert_equal Encoding::BINARY, reply[0][0]["file"].encoding
  end

  def test_middleware_on_connection_and_the_socket_api
    engine = start_engine
    seen = Queue.new
    sockets = Queue.new
    engine.use do |socket, event, args|
      seen << [socket.id, event, args]
      raise Sessionio::HandlerError, "blocked" if event == "blocked"
    end
    engine.on_connection do |socket|
      sockets << socket
      socket.emit("welcome", socket.id, "\x01".b)
    end
    engine.on("blocked") { :never }
    engine.on("rooms") { |socket, room| socket.join(room).rooms }
    session, cookie = session_and_cookie(engine)
    client = connect(engine, cookie: cookie)
    socket = sockets.pop
    assert_equal ["welcome", socket.id, "\x01".b], client.next_event
    assert socket.connected?
    assert_equal "/", socket.namespace
    assert_equal session.id, socket.session_id
    assert_equal session.id, socket.session.id
    handshake = socket.handshake
    assert_equal ORIGIN, handshake["headers"]["origin"]
    assert_equal "127.0.0.1", handshake["address"]["ip"]
    assert_kind_of Integer, handshake["time"]
    assert_equal [{ "error" => "blocked" }], client.emit_with_ack("blocked", 1)
    assert_equal [socket.id, "blocked", [1]], seen.pop
    assert_equal [["lobby"]], client.emit_with_ack("rooms", "lobby")
    assert_equal [], socket.leave("lobby").rooms
    reserved = assert_raises(Sessionio::InvalidValueError) { socket.join("sessionio:#{session.id}") }
    assert_equal "ERR_INVALID_VALUE", reserved.code
    # The client's ack (the test client acks with the event's arguments) comes back.
    assert_equal ["are you there", 42], socket.emit_with_ack("question", "are you there", 42, timeout: 5)
    socket.disconnect
    assert client.disconnected?
    refute socket.connected?
    assert_raises(Sessionio::InvalidValueError) { socket.emit_with_ack("late", timeout: -1) }
  end

  def test_anonymous_sockets_and_refusals
    engine = start_engine(allow_anonymous: true)
    sockets = Queue.new
    engine.on_connection { |socket| sockets << socket }
    connect(engine)
    socket = sockets.pop
    assert_nil socket.session_id
    assert_nil socket.session
    strict = start_engine
    assert_equal "session required", connect(strict).connect_error
    assert_equal "invalid session", connect(strict, cookie: "sessionio.sid=forged").connect_error
  end

  # Handlers run while other Ruby threads work: the engine's calls never hold the GVL
  # while they wait, and each handler runs in a Ruby thread of its own. (A thread that
  # never yields the GVL starves every other Ruby thread, handlers included, for 100 ms
  # at a time: that is MRI's scheduling, the same for Puma's threads.)
  def test_handlers_run_while_other_ruby_threads_work
    engine = engine_with_handlers
    _, cookie = session_and_cookie(engine)
    clients = Array.new(4) { connect(engine, cookie: cookie) }
    ticks = 0
    running = true
    worker = Thread.new do
      while running
        ticks += 1
        Thread.pass
      end
    end
    acks = clients.map { |client| Thread.new { Array.new(25) { client.emit_with_ack("incr").first } } }.flat_map(&:value)
    running = false
    worker.join
    assert_equal (1..100).to_a, acks.sort
    assert_operator ticks, :>, 100, "the busy thread ran while handlers answered"
  end
end
