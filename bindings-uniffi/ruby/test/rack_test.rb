# frozen_string_literal: true

require_relative "test_helper"
require "rack/mock"

class RackTest < Minitest::Test
  include TestSupport

  def app(engine, &route)
    inner = lambda do |env|
      body = route.call(env)
      [200, { "content-type" => "text/plain" }, [body.to_s]]
    end
    Rack::MockRequest.new(Sessionio::Rack::SessionMiddleware.new(inner, engine))
  end

  def test_every_request_gets_its_session_and_the_cookie_core_decided
    engine = start_engine
    requests = app(engine) { |env| Sessionio::Rack.session_of(env).increment("n") }
    first = requests.post("/", "HTTP_ORIGIN" => ORIGIN)
    assert_equal "1", first.body
    cookie = first.headers["set-cookie"].split(";").first
    second = requests.post("/", "HTTP_COOKIE" => cookie, "HTTP_ORIGIN" => ORIGIN)
    assert_equal ["2", nil], [second.body, second.headers["set-cookie"]]
    reader = app(engine) { |env| env["sessionio.session"].get("n", 0) }
    assert_nil reader.get("/").headers["set-cookie"], "a session only read stores nothing and sends no cookie"
  end

  def test_refusals_and_forgeries_are_answered
    engine = start_engine(max_sessions: 1)
    requests = app(engine) { |env| Sessionio::Rack.session_of(env).save.id }
    forged = requests.get("/", "HTTP_COOKIE" => "sessionio.sid=forged")
    assert_equal [401, "invalid session"], [forged.status, forged.body]
    assert_equal engine.clear_cookie, forged.headers["set-cookie"]
    cross = requests.post("/", "HTTP_ORIGIN" => "https://evil.example")
    assert_equal [403, "origin not allowed", nil], [cross.status, cross.body, cross.headers["set-cookie"]]
    assert_equal 200, requests.get("/").status
    full = requests.get("/")
    assert_equal [503, "too many sessions"], [full.status, full.body]
    optional = app(engine) { |env| Sessionio::Rack.optional_session(env).inspect }
    assert_equal "nil", optional.get("/", "HTTP_COOKIE" => "sessionio.sid=forged").body
    assert_raises(ArgumentError) { Sessionio::Rack.session_of({}) }
  end

  def test_regenerate_and_destroy_change_the_responses_cookie
    engine = start_engine
    session, cookie = session_and_cookie(engine)
    renewed_id = nil
    login = app(engine) { |env| renewed_id = Sessionio::Rack.session_of(env).regenerate.id }
    response = login.post("/", "HTTP_COOKIE" => cookie, "HTTP_ORIGIN" => ORIGIN)
    refute_equal session.id, renewed_id
    assert_equal engine.set_cookie(renewed_id), response.headers["set-cookie"]
    logout = app(engine) { |env| Sessionio::Rack.session_of(env).destroy }
    new_cookie = response.headers["set-cookie"].split(";").first
    gone = logout.post("/", "HTTP_COOKIE" => new_cookie, "HTTP_ORIGIN" => ORIGIN)
    assert_equal engine.clear_cookie, gone.headers["set-cookie"]
  end

  # A login in a request: the response sets the new session's cookie, the request's
  # session is the new one from then on, and the request's client is recorded.
  def test_login_and_logout_move_the_requests_session_and_record_the_client
    engine = start_engine
    session, cookie = session_and_cookie(engine)
    seen = nil
    login = app(engine) do |env|
      Sessionio::Rack.session_of(env).login("ada")
      seen = [Sessionio::Rack.session_of(env).id, env["sessionio.session_id"], Sessionio::Rack.session_of(env).user_id]
      "ok"
    end
    response = login.post("/", "HTTP_COOKIE" => cookie, "HTTP_ORIGIN" => ORIGIN,
                               "HTTP_USER_AGENT" => "phone-browser/1.0", "REMOTE_ADDR" => "::ffff:10.0.0.7")
    new_id, env_id, user = seen
    refute_equal session.id, new_id
    assert_equal [new_id, "ada"], [env_id, user]
    assert_equal engine.set_cookie(new_id), response.headers["set-cookie"]
    entry, = engine.user_sessions("ada")
    assert_equal ["phone-browser/1.0", "10.0.0.7"], [entry.user_agent, entry.address]

    new_cookie = response.headers["set-cookie"].split(";").first
    logout = app(engine) do |env|
      Sessionio::Rack.session_of(env).logout
      [Sessionio::Rack.session_of(env).id, Sessionio::Rack.session_of(env).user_id.inspect].join(" ")
    end
    out = logout.post("/", "HTTP_COOKIE" => new_cookie, "HTTP_ORIGIN" => ORIGIN)
    out_id, out_user = out.body.split
    refute_equal new_id, out_id
    assert_equal "nil", out_user
    assert_equal engine.set_cookie(out_id), out.headers["set-cookie"]
    assert_equal [], engine.user_sessions("ada")
  end

  # The User-Agent header's bytes are Latin-1 text (as Node and Python read headers): a
  # non-ASCII one does not fail the request.
  def test_a_non_ascii_user_agent_is_read_as_latin1
    engine = start_engine
    login = app(engine) { |env| Sessionio::Rack.session_of(env).login("ada").id }
    response = login.post("/", "HTTP_ORIGIN" => ORIGIN, "HTTP_USER_AGENT" => "t\xC3\xA9st".b)
    assert_equal 200, response.status
    assert_equal "t\u00C3\u00A9st", engine.user_sessions("ada").first.user_agent
  end

  def test_the_apps_own_cookies_are_kept
    engine = start_engine
    inner = lambda do |env|
      Sessionio::Rack.session_of(env).save
      [200, { "Set-Cookie" => "theme=dark" }, ["ok"]]
    end
    response = Rack::MockRequest.new(Sessionio::Rack::SessionMiddleware.new(inner, engine)).get("/")
    cookies = response.headers["Set-Cookie"].split("\n")
    assert_equal "theme=dark", cookies.first
    assert_match(/\Asessionio\.sid=/, cookies.last)
  end
end
