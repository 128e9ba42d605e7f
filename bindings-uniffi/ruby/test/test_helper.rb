# frozen_string_literal: true

# What every suite shares: engines on free loopback ports (closed after each test), and a
# small Socket.IO client over HTTP long-polling (no Ruby Socket.IO client is packaged in
# Debian). Run with `ruby -Ilib -Itest -e 'Dir["test/*_test.rb"].each { |f| require_relative f }'`
# from bindings-uniffi/ruby, or against the installed gem without -Ilib.

require "minitest/autorun"
require "json"
require "net/http"
require "timeout"
require "sessionio"

module TestSupport
  SECRET = "test-secret-that-is-long-enough-0123456789"
  ORIGIN = "http://app.example"

  def setup
    @engines = []
  end

  def teardown
    @clients&.each(&:close)
    @engines.each(&:close)
  end

  # A started engine with the tests' secret and Origin (options override them).
  def start_engine(**options)
    engine = Sessionio::Engine.new(secret: SECRET, allowed_origins: [ORIGIN], **options)
    @engines << engine
    engine.start
    engine
  end

  # A stored session and the `Cookie` header that presents it.
  def session_and_cookie(engine)
    session = engine.create_session
    [session, engine.set_cookie(session.id).split(";").first]
  end

  def connect(engine, cookie: nil, auth: nil)
    client = PollingClient.new(engine.url, cookie: cookie)
    (@clients ||= []) << client
    client.connect(auth)
    client
  end

  # Waits until the block is true (at most `seconds`).
  def eventually(seconds = 5)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until yield
      flunk "not true within #{seconds} s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.01
    end
  end
end

# A Socket.IO v5 client on Engine.IO v4 long-polling: enough to connect with a cookie or a
# token, emit with acks (binary attachments too), answer the server's acks and pings, and
# see every packet the server sends.
class PollingClient
  RECORD_SEPARATOR = "\x1e"

  attr_reader :sid, :connect_packet

  def initialize(url, cookie: nil)
    @uri = URI(url)
    @cookie = cookie
    @packets = Queue.new
    @acks = {}
    @next_ack = 0
    @lock = Mutex.new
    @events = Queue.new
    @open = true
  end

  def connect(auth = nil)
    first = get("/socket.io/?EIO=4&transport=polling")
    raise "handshake failed: #{first}" unless first.start_with?("0")

    @sid = JSON.parse(first[1..])["sid"]
    post(auth ? "40#{JSON.generate(auth)}" : "40")
    @reader = Thread.new { read_loop }
    @connect_packet = next_packet { |p| p.start_with?("40", "44") }
    self
  end

  def connected?
    @connect_packet&.start_with?("40")
  end

  # The connect_error's message, when the server refused the socket.
  def connect_error
    JSON.parse(@connect_packet[2..])["message"] if @connect_packet&.start_with?("44")
  end

  # Emits and waits for the ack's arguments. Binary Strings go as attachments.
  def emit_with_ack(event, *args, timeout: 5)
    queue = Queue.new
    id = @lock.synchronize { @next_ack += 1 }
    @acks[id] = queue
    attachments = []
    payload = placeholders([event, *args], attachments)
    text = attachments.empty? ? "42#{id}" : "45#{attachments.size}-#{id}"
    post([text + JSON.generate(payload), *attachments.map { |a| "b#{[a].pack('m0')}" }].join(RECORD_SEPARATOR))
    Timeout.timeout(timeout) { queue.pop }
  end

  def emit(event, *args)
    post("42#{JSON.generate([event, *args])}")
  end

  # The next server event (name and arguments) for which the block is true.
  def next_event(timeout: 5)
    Timeout.timeout(timeout) do
      loop do
        event = @events.pop
        return event if !block_given? || yield(event)
      end
    end
  end

  # Whether the server disconnected the socket (or closed the session) within `timeout`.
  def disconnected?(timeout: 5)
    next_packet(timeout: timeout) { |p| p == "41" || p == "1" || p == :closed }
    true
  rescue Timeout::Error
    false
  end

  def close
    return unless @open

    @open = false
    post("1") rescue nil # rubocop:disable Style/RescueModifier
    @reader&.kill
  end

  private

  def placeholders(value, attachments)
    case value
    when String
      return value unless value.encoding == Encoding::BINARY

      attachments << value
      { "_placeholder" => true, "num" => attachments.size - 1 }
    when Array then value.map { |v| placeholders(v, attachments) }
    when Hash then value.transform_values { |v| placeholders(v, attachments) }
    else value
    end
  end

  def fill(value, attachments)
    case value
    when Hash
      return attachments.fetch(value["num"]) if value["_placeholder"]

      value.transform_values { |v| fill(v, attachments) }
    when Array then value.map { |v| fill(v, attachments) }
    else value
    end
  end

  def next_packet(timeout: 5)
    Timeout.timeout(timeout) do
      loop do
        packet = @packets.pop
        return packet if yield(packet)
      end
    end
  end

  def headers
    h = { "Origin" => TestSupport::ORIGIN }
    h["Cookie"] = @cookie if @cookie
    h
  end

  def http
    Net::HTTP.start(@uri.host, @uri.port, read_timeout: 60) { |h| yield h }
  end

  def get(path)
    http { |h| h.get(path, headers).body.force_encoding(Encoding::UTF_8) }
  end

  def post(body)
    http do |h|
      h.post("/socket.io/?EIO=4&transport=polling&sid=#{@sid}", body,
             headers.merge("Content-Type" => "text/plain;charset=UTF-8"))
    end
  end

  def read_loop
    pending = nil # a binary event or ack waiting for its attachments
    while @open
      body = begin
        http { |h| h.get("/socket.io/?EIO=4&transport=polling&sid=#{@sid}", headers) }
      rescue StandardError
        @packets << :closed
        return
      end
      unless body.is_a?(Net::HTTPSuccess)
        @packets << :closed
        return
      end
      body.body.force_encoding(Encoding::UTF_8).split(RECORD_SEPARATOR).each do |packet|
        if packet.start_with?("b")
          pending[:attachments] << packet[1..].unpack1("m0").b
          deliver(pending) if pending[:attachments].size == pending[:count]
          next
        end
        @packets << packet
        post("3") if packet == "2"
        next unless packet.start_with?("4")

        case packet[1]
        when "2" then deliver(kind: :event, text: packet[2..], attachments: [], count: 0)
        when "3" then deliver(kind: :ack, text: packet[2..], attachments: [], count: 0)
        when "5", "6"
          count, rest = packet[2..].split("-", 2)
          pending = { kind: packet[1] == "5" ? :event : :ack, text: rest, attachments: [], count: Integer(count) }
        end
      end
    end
  end

  def deliver(message)
    id = message[:text][/\A\d+/]
    payload = fill(JSON.parse(message[:text][(id&.size || 0)..]), message[:attachments])
    if message[:kind] == :ack
      @acks.delete(Integer(id))&.push(payload)
    else
      @events << payload
      # Answer the server's emit_with_ack with the event's own arguments.
      post("43#{id}#{JSON.generate(payload[1..])}") if id
    end
  end
end
