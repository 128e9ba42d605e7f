# frozen_string_literal: true

# The seed guide's counter app on Sinatra, served by Puma, with sessionio.
#
# Sinatra serves the page and the HTTP routes on PORT; sessionio serves Socket.IO on
# SOCKET_PORT (its own port, as in the Flask example). Both share the sessions: the Rack
# middleware gives every request its session from the cookie, and socket handlers get the
# same session live.
#
# Users across sessions: `POST /login` (form field `user`) logs the session in (a new id
# and cookie), `POST /notify-user` (text body) reaches every socket of every session of
# the user, `GET /sessions` lists them under opaque handles, `DELETE /sessions/<handle>`
# signs one out, `POST /logout-everywhere` signs them all out. Without a login these
# answer 401 `not logged in`.
#
# Run: `ruby examples/ruby-sinatra/app.rb` (with the sessionio gem installed, or
# RUBYLIB=bindings-uniffi/ruby/lib after `bash bindings-uniffi/ruby/build.sh`).
# Environment: PORT (default 3000, 0 = any free port), SOCKET_PORT (default 3001),
# SESSION_TTL_MS (inactivity timeout, default 30 min), SESSION_SECRET (default: random at
# every start), ALLOWED_ORIGINS (comma-separated, added to the page's own origins),
# MAX_CONNECTIONS_PER_SESSION (default 32), TOKEN_TTL_MS (lifetime of the tokens GET /token
# issues, default 60 000), MAX_SESSIONS (default 1 000 000), SESSION_STORE_URL (memory://
# by default, or sqlite://<file>), REDIS_URL (several processes on one Redis; same as
# SESSION_STORE_URL=redis://…, with the same SESSION_SECRET everywhere),
# SOCKET_IO_CLIENT_JS (path of socket.io.min.js). It prints
# `listening http=<url> socket=<url>` once both servers listen, and stops cleanly on
# SIGTERM or Ctrl-C.

require "json"
require "securerandom"
require "socket"
require "puma"
require "puma/server"
require "sinatra/base"
require "sessionio"

HERE = __dir__
REPO = File.expand_path("../..", HERE)
PAGE = File.read(File.join(HERE, "static", "index.html"))
CLIENT_JS_CANDIDATES = [
  File.join(REPO, "examples/rust-counter/node_modules/socket.io-client/dist/socket.io.min.js"),
  File.join(REPO, "tests/node_modules/socket.io-client/dist/socket.io.min.js")
].freeze

def env_int(name, default)
  value = ENV.fetch(name, "")
  return default if value.empty?

  Integer(value, 10)
rescue ArgumentError
  abort "#{name}=#{value.inspect} is not an integer"
end

def create_sessionio(http_port)
  origins = ["http://127.0.0.1:#{http_port}", "http://localhost:#{http_port}"]
  origins += ENV.fetch("ALLOWED_ORIGINS", "").split(",").map(&:strip).reject(&:empty?)
  engine = Sessionio::Engine.new(
    # Random per start is fine for a demo whose memory store forgets sessions at exit;
    # processes that share a store need the same SESSION_SECRET.
    secret: ENV.fetch("SESSION_SECRET", "").then { |s| s.empty? ? SecureRandom.urlsafe_base64(32) : s },
    store: [ENV["SESSION_STORE_URL"], ENV["REDIS_URL"]].find { |url| url && !url.empty? },
    port: env_int("SOCKET_PORT", 3001),
    ttl_ms: env_int("SESSION_TTL_MS", 30 * 60 * 1000),
    allowed_origins: origins,
    max_connections_per_session: env_int("MAX_CONNECTIONS_PER_SESSION", 32),
    max_sessions: env_int("MAX_SESSIONS", 1_000_000),
    # The demo runs on http://localhost; a real deployment keeps Secure cookies.
    cookie_secure: false
  )

  # Socket event "incr": atomic increment, ack with the new count, tell every tab.
  engine.on("incr") do |socket|
    session = socket.session or raise Sessionio::HandlerError, "session required"
    n = session.increment("count")
    session.notify("current count", n)
    n
  end
  engine
end

# The counter's HTTP side.
class CounterApp < Sinatra::Base
  register Sessionio::Rack::Sinatra
  # sessionio's middleware refuses cross-site requests (one allow-list, the engine's);
  # Sinatra's own Origin check would refuse the extra ALLOWED_ORIGINS.
  set :protection, except: [:http_origin]
  set :show_exceptions, false

  # Sessions are created lazily (by their first write, or save). The page opens a
  # socket, whose handshake needs the cookie, so GET / saves the session.
  get "/" do
    session = current_session.save
    content_type :html
    PAGE.sub("{{COUNT}}", session.get("count", 0).to_s).sub("{{SOCKET_PORT}}", settings.engine.port.to_s)
  end

  post "/incr" do
    session = current_session
    n = session.increment("count")
    session.notify("current count", n)
    content_type :text
    n.to_s
  end

  # Logging out always answers 204 and clears the cookie, even for a session that is
  # already gone; a live session is destroyed and its sockets disconnected.
  post "/logout" do
    optional_session&.destroy
    status 204
  end

  helpers do
    # The user of the request's session; without a login, the route answers 401.
    def current_user
      current_session.user_id or halt 401, { "content-type" => "text/plain; charset=utf-8" }, "not logged in"
    end

    # The request's body as text; 400 when it is not UTF-8.
    def body_text
      request.body.rewind
      text = request.body.read.force_encoding(Encoding::UTF_8)
      halt 400, { "content-type" => "text/plain; charset=utf-8" }, "the body is not valid UTF-8" unless text.valid_encoding?
      text
    end

    def unix_ms(time)
      (time.to_r * 1000).to_i
    end
  end

  # POST /login with the form field `user`: logs the session in as that user (the app
  # would check a password first) and gives it a new id, against fixation; the response
  # carries the new cookie. A missing or bad user id is 400 with the reason (the engine
  # decides what a user id may be).
  post "/login" do
    session = current_session
    content_type :text
    request.body.rewind
    form = begin
      Rack::Utils.parse_query(request.body.read)
    rescue ArgumentError => e # a malformed %-escape
      halt 400, "the form is malformed: #{e.message}"
    end
    user = Array(form["user"]).first
    halt 400, "the form field `user` is missing" unless user
    session.login(user)
    status 204
  rescue Sessionio::InvalidValueError => e
    halt 400, e.message
  end

  # POST /notify-user (text body): every socket of every session of the current user gets
  # "user message" with the text; answers how many sockets this node reached.
  post "/notify-user" do
    text = body_text
    user = current_user
    content_type :text
    settings.engine.notify_user(user, "user message", text).to_s
  end

  # GET /sessions: the current user's live sessions as JSON, each under a handle that is
  # not its id.
  get "/sessions" do
    user = current_user
    list = settings.engine.user_sessions(user).map do |s|
      { handle: s.handle, createdAt: unix_ms(s.created_at), lastSeen: unix_ms(s.last_seen),
        userAgent: s.user_agent, address: s.address, sockets: s.sockets }
    end
    content_type :json
    JSON.generate(list)
  end

  # DELETE /sessions/<handle>: signs out the current user's session of that handle (204),
  # or 404 if the user has none.
  delete "/sessions/:handle" do
    user = current_user
    content_type :text
    halt 404, "no such session" unless settings.engine.destroy_user_session(user, params["handle"])
    status 204
  end

  # POST /logout-everywhere: destroys every session of the current user, this one
  # included (its cookie is cleared); answers how many.
  post "/logout-everywhere" do
    session = current_session
    user = current_user
    others = settings.engine.destroy_user(user, except: session.id)
    session.destroy
    content_type :text
    (others + 1).to_s
  end

  # A token for clients that cannot send the cookie (they pass it as auth.token).
  get "/token" do
    session = current_session.save
    content_type :text
    settings.engine.issue_token(session.id, settings.token_ttl)
  end

  # A health check: it does not touch the session, so it stores none and sends no cookie.
  get "/health" do
    content_type :text
    "ok"
  end

  get "/assets/socket.io.min.js" do
    configured = ENV.fetch("SOCKET_IO_CLIENT_JS", "")
    path = (configured.empty? ? CLIENT_JS_CANDIDATES : [configured]).find { |p| File.file?(p) }
    halt 500, { "content-type" => "text/plain" }, "socket.io client not found; run `npm ci` in tests/ or set SOCKET_IO_CLIENT_JS" unless path
    content_type "text/javascript"
    File.binread(path)
  end
end

def main
  # Bind the HTTP port first: the Origin allow-list needs it (PORT=0 picks one). The app
  # is built once the engine is, so Puma gets a stand-in that calls it.
  rack_app = nil
  server = Puma::Server.new(->(env) { rack_app.call(env) }, Puma::Events.strings,
                            min_threads: 0, max_threads: 16)
  server.add_tcp_listener("127.0.0.1", env_int("PORT", 3000))
  http_port = server.connected_ports.first

  engine = create_sessionio(http_port)
  engine.start
  CounterApp.set :engine, engine
  CounterApp.set :token_ttl, env_int("TOKEN_TTL_MS", 60_000) / 1000.0
  rack_app = Rack::Builder.new do
    use Sessionio::Rack::SessionMiddleware, engine
    run CounterApp
  end.to_app

  stop = Queue.new
  %w[TERM INT].each { |signal| trap(signal) { stop << signal } }
  server.run
  puts "listening http=http://127.0.0.1:#{http_port} socket=#{engine.url}"
  $stdout.flush
  stop.pop
  server.stop(true)
ensure
  engine&.close
end

main if $PROGRAM_NAME == __FILE__
