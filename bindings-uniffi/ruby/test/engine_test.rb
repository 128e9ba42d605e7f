# frozen_string_literal: true

require_relative "test_helper"

class EngineTest < Minitest::Test
  include TestSupport

  def test_start_serves_on_its_own_port_and_close_stops_it
    engine = start_engine
    assert engine.started?
    assert_match(%r{\Ahttp://127\.0\.0\.1:\d+\z}, engine.url)
    assert_equal engine.url.split(":").last.to_i, engine.port
    error = assert_raises(Sessionio::ServerError) { engine.start }
    assert_equal "ERR_SERVER", error.code
    assert_equal "server error: sessionio is already started", error.message
    engine.close
    refute engine.started?
    assert_raises(Sessionio::ServerError) { engine.url }
    again = assert_raises(Sessionio::ServerError) { engine.start }
    assert_match(/was closed; create a new one/, again.message)
  end

  def test_options_are_cores_with_its_messages
    error = assert_raises(Sessionio::InvalidConfigError) { Sessionio::Engine.new(secret: SECRET, ttl_mss: 5) }
    assert_equal "ERR_INVALID_CONFIG", error.code
    assert_equal "invalid configuration: unknown option `ttl_mss`", error.message
    short = assert_raises(Sessionio::InvalidConfigError) { Sessionio::Engine.new(secret: "short") }
    assert_match(/secret #1 is 5 bytes; at least 32 are required/, short.message)
    typed = assert_raises(Sessionio::InvalidConfigError) { Sessionio::Engine.new(secret: SECRET, ttl: "long") }
    assert_match(/ttl/, typed.message)
    unsendable = assert_raises(Sessionio::InvalidValueError) { Sessionio::Engine.new(secret: SECRET, ttl: Object.new) }
    assert_match(/an Object cannot be sent|a Object cannot be sent/, unsendable.message)
    # Symbols as values, seconds as numbers: the same option map as Python's keywords.
    engine = Sessionio::Engine.new(secret: SECRET, ttl: 90, same_site: :strict, cookie_name: "app.sid")
    assert_equal "app.sid", engine.cookie_name
    assert_match(/SameSite=Strict/, engine.set_cookie(engine.create_session.id))
  ensure
    engine&.close
  end

  # Every code of core reaches Ruby as its class, with core's code and message.
  def test_every_error_code_is_its_class
    {
      "ERR_INVALID_CONFIG" => Sessionio::InvalidConfigError,
      "ERR_SESSION_NOT_FOUND" => Sessionio::SessionNotFoundError,
      "ERR_SESSION_EXPIRED" => Sessionio::SessionExpiredError,
      "ERR_INVALID_SESSION_ID" => Sessionio::InvalidSessionIdError,
      "ERR_STORE_UNAVAILABLE" => Sessionio::StoreUnavailableError,
      "ERR_CONFLICT" => Sessionio::ConflictError,
      "ERR_INVALID_VALUE" => Sessionio::InvalidValueError,
      "ERR_SERVER" => Sessionio::ServerError,
      "ERR_TOO_MANY_SESSIONS" => Sessionio::TooManySessionsError
    }.each do |code, error_class|
      error = assert_raises(error_class) { SessionioNative.raise_engine_error(code, "7") }
      assert_equal code, error.code
      assert_kind_of Sessionio::Error, error
      assert_equal error.message, error.to_s
    end
    assert_equal "store unavailable: 7",
                 assert_raises(Sessionio::StoreUnavailableError) { SessionioNative.raise_engine_error("ERR_STORE_UNAVAILABLE", "7") }.message
    assert_equal 503, assert_raises(Sessionio::TooManySessionsError) { SessionioNative.raise_engine_error("ERR_TOO_MANY_SESSIONS", "") }.status
  end

  def test_errors_from_real_calls
    engine = start_engine(max_sessions: 1)
    assert_equal "ERR_INVALID_SESSION_ID", assert_raises(Sessionio::InvalidSessionIdError) { engine.session("nope") }.code
    gone = engine.create_session
    gone.destroy
    assert_equal "session not found", assert_raises(Sessionio::SessionNotFoundError) { engine.session(gone.id) }.message
    session = engine.create_session
    session["name"] = "ada"
    error = assert_raises(Sessionio::InvalidValueError) { session.increment("name") }
    assert_equal "ERR_INVALID_VALUE", error.code
    full = assert_raises(Sessionio::TooManySessionsError) { engine.create_session }
    assert_equal ["ERR_TOO_MANY_SESSIONS", "too many sessions", 503], [full.code, full.message, full.status]
    assert_kind_of Sessionio::Refusal, full
  end

  def test_notify_and_destroy_reach_the_sessions_sockets
    engine = start_engine
    session, cookie = session_and_cookie(engine)
    first = connect(engine, cookie: cookie)
    second = connect(engine, cookie: cookie)
    assert first.connected?
    assert_equal 2, engine.notify_session(session.id, "current count", { "n" => 1 })
    assert_equal ["current count", { "n" => 1 }], first.next_event
    assert_equal ["current count", { "n" => 1 }], second.next_event
    assert_equal 0, engine.notify_session(engine.create_session.id, "nobody")
    assert_equal 2, engine.destroy_session(session.id)
    assert first.disconnected?
    assert second.disconnected?
    assert_equal "invalid session", connect(engine, cookie: cookie).connect_error
    assert_raises(Sessionio::InvalidSessionIdError) { engine.notify_session("nope", "x") }
  end

  def test_tokens_admit_a_socket_without_the_cookie
    engine = start_engine
    session = engine.create_session
    token = engine.issue_token(session.id, 60)
    client = connect(engine, auth: { "token" => token })
    assert client.connected?
    assert_equal 1, engine.notify_session(session.id, "hello")
    assert_equal ["hello", nil], client.next_event
    bad = assert_raises(Sessionio::InvalidValueError) { engine.issue_token(session.id, -1) }
    assert_match(/ttl must be a non-negative, finite number of seconds/, bad.message)
    assert_raises(Sessionio::InvalidValueError) { engine.issue_token(session.id, "soon") }
    assert_equal "invalid session", connect(engine, auth: { "token" => "forged" }).connect_error
  end

  def test_cookies_and_the_request_check
    engine = start_engine
    session = engine.create_session
    assert_equal "sessionio.sid", engine.cookie_name
    assert_match(/\Asessionio\.sid=[\w-]{22}\.[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure\z/,
                 engine.set_cookie(session.id))
    assert_equal "sessionio.sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax; Secure", engine.clear_cookie
    forged = engine.check_request_site("POST", origin: "https://evil.example")
    assert_equal ["ERR_SESSION_REFUSED", "origin not allowed", 403], [forged.code, forged.message, forged.status]
    assert_nil engine.check_request_site("POST", origin: ORIGIN)
    assert_nil engine.check_request_site("GET", origin: "https://evil.example")
  end

  def test_http_request_resolves_the_cookie
    engine = start_engine
    fresh = engine.http_request(nil)
    refute_nil fresh.session
    assert_nil fresh.set_cookie, "a new session sends no cookie until it is written"
    fresh.session["seen"] = true
    assert_equal engine.set_cookie(fresh.session.id), fresh.set_cookie
    cookie = fresh.set_cookie.split(";").first
    again = engine.http_request(cookie)
    assert_equal fresh.session.id, again.session.id
    assert_nil again.refusal
    forged = engine.http_request("sessionio.sid=forged")
    assert_nil forged.session
    assert_equal ["invalid session", 401], [forged.refusal.message, forged.refusal.status]
    assert_equal engine.clear_cookie, forged.set_cookie
    assert_kind_of Sessionio::SessionRefused, forged.refusal
  end

  def test_stats_and_metrics
    engine = start_engine
    _, cookie = session_and_cookie(engine)
    connect(engine, cookie: cookie)
    assert_equal({ sockets: 1, sessions_with_sockets: 1 }, engine.stats)
    assert_match(/^sessionio_sockets_connected 1$/, engine.metrics_text)
  end
end
