# frozen_string_literal: true

module Sessionio
  # The engine: serves Socket.IO on its own port and shares the app's sessions with it.
  #
  # Options are core's, as keywords with their snake_case names: `secret:` (at least 32
  # bytes) or `secrets:`, `ttl:` (seconds) or `ttl_ms:`, `allowed_origins:`, `store:`
  # ("memory://", "sqlite://<file>", "redis://…"), `host:`, `port:`, `cookie_secure:`,
  # `max_connections_per_session:`, … — see README's configuration table. An unknown or bad
  # option raises InvalidConfigError with core's message.
  class Engine
    # A started engine.
    def self.start(**options)
      engine = new(**options)
      engine.start
      engine
    end

    attr_reader :native

    def initialize(**options)
      @native = SessionioNative::Engine.new(Values.options(options))
    end

    # Binds and serves; returns the bound port.
    def start
      port = @native.start
      Engine.open_engines_lock.synchronize { Engine.open_engines[self] = true }
      port
    end

    # Disconnects every socket and stops the server; the engine stays closed.
    def close
      @native.close
      Engine.open_engines_lock.synchronize { Engine.open_engines.delete(self) }
      nil
    end

    # The Socket.IO URL, e.g. "http://127.0.0.1:3001" (once started).
    def url
      @native.url
    end

    def port
      @native.port
    end

    def started?
      @native.started
    end

    def cookie_name
      @native.cookie_name
    end

    # Handles socket event `event`: the block gets the socket and the event's arguments,
    # and its value answers the client's ack. Raise HandlerError to answer
    # {"error" => message}.
    def on(event, &block)
      raise ArgumentError, "on(#{event.inspect}) needs a block" unless block

      @native.on(event.to_s, Callbacks::Event.new(event, block))
      self
    end

    # Runs the block (socket, event, args) before the handler of every event; raising
    # stops the event.
    def use(&block)
      raise ArgumentError, "use needs a block" unless block

      @native.use_middleware(Callbacks::Middleware.new(block))
      self
    end

    # Runs the block for every accepted socket.
    def on_connection(&block)
      raise ArgumentError, "on_connection needs a block" unless block

      @native.on_connection(Callbacks::Connection.new(block))
      self
    end

    # Emits `event` with `data` to every socket of the session; how many.
    def notify_session(session_id, event, data = nil)
      @native.notify_session(session_id.to_s, event.to_s, Values.lower(data))
    end

    # Deletes the session and disconnects its sockets; how many.
    def destroy_session(session_id)
      @native.destroy_session(session_id.to_s)
    end

    # Emits `event` with `data` to every socket of every session logged in as `user_id`
    # (see Session#login), on every node; how many sockets it reached on this one.
    def notify_user(user_id, event, data = nil)
      @native.notify_user(Values.text(user_id), event.to_s, Values.lower(data))
    end

    # Destroys every session logged in as `user_id` but the one whose id is `except` (the
    # caller's own, for "sign out my other devices"), their sockets disconnected on every
    # node; how many live sessions.
    def destroy_user(user_id, except: nil)
      @native.destroy_user(Values.text(user_id), except&.to_s)
    end

    # The live sessions logged in as `user_id`, oldest login first: UserSessions, each
    # named by an opaque handle (never its id).
    def user_sessions(user_id)
      @native.user_sessions(Values.text(user_id)).map { |s| UserSession.lift(s) }
    end

    # Destroys the session of `user_id` that `handle` (from user_sessions) names: "sign
    # out that device". false when the user has no such live session.
    def destroy_user_session(user_id, handle)
      @native.destroy_user_session(Values.text(user_id), Values.text(handle))
    end

    # What the store's user index holds: {users:, sessions:}.
    def user_index_size
      size = @native.user_index_size
      { users: size.users, sessions: size.sessions }
    end

    # A signed token for clients that cannot send the cookie (`auth: {token}`), valid for
    # `ttl` seconds.
    def issue_token(session_id, ttl)
      @native.issue_token(session_id.to_s, Float(ttl))
    rescue TypeError, ArgumentError
      Values.invalid("ttl must be a number of seconds, not #{ttl.inspect}")
    end

    # A new, stored session.
    def create_session
      Session.new(@native.create_session)
    end

    # A handle on an existing session.
    def session(session_id)
      Session.new(@native.session(session_id.to_s))
    end

    # What a request's Cookie header resolves to: an HttpOutcome. `user_agent` (the
    # User-Agent header) and `address` (the client's address as the server gives it, e.g.
    # Rack's REMOTE_ADDR) are recorded by a login made during the request.
    def http_request(cookie_header, user_agent: nil, address: nil)
      HttpOutcome.new(@native.http_request(cookie_header, user_agent, address))
    end

    # The Set-Cookie value that stores this session's cookie.
    def set_cookie(session_id)
      @native.set_cookie(session_id.to_s)
    end

    # The Set-Cookie value that removes the session cookie.
    def clear_cookie
      @native.clear_cookie
    end

    # The cross-site request forgery check: nil, or the SessionRefused to answer (403
    # `origin not allowed`, no cookie change).
    def check_request_site(method, origin: nil, fetch_site: nil, host: nil)
      @native.check_request_site(method.to_s, origin, fetch_site, host)
      nil
    rescue SessionRefused => e
      e
    end

    # Live counters: {sockets:, sessions_with_sockets:}.
    def stats
      s = @native.stats
      { sockets: s.sockets, sessions_with_sockets: s.sessions_with_sockets }
    end

    # Every counter in the Prometheus text format.
    def metrics_text
      @native.metrics_text
    end

    def inspect
      "#<Sessionio::Engine #{started? ? url : 'not started'}>"
    end

    # Engines started and not closed: closed at exit, before the VM stops (the engine's
    # threads must not call into a stopping VM).
    @open_engines = {}.compare_by_identity
    @open_engines_lock = Mutex.new
    class << self
      attr_reader :open_engines, :open_engines_lock
    end

    at_exit do
      open_engines_lock.synchronize { open_engines.keys }.each do |engine|
        engine.close
      rescue StandardError => e
        Sessionio.logger.warn("closing #{engine.inspect} at exit failed: #{e.message}")
      end
    end
  end

  # One live session of a user, as Engine#user_sessions lists it: `handle` (for
  # Engine#destroy_user_session; never the session id), `created_at` (its login) and
  # `last_seen` (Times, as Session#expires_at), `user_agent` and `address` (of its login
  # request or its latest socket; nil when unknown), `sockets` (connected now, every node).
  UserSession = Struct.new(:handle, :created_at, :last_seen, :user_agent, :address, :sockets,
                           keyword_init: true) do
    def self.lift(native)
      new(handle: native.handle, created_at: Time.at(native.created_at / 1000r),
          last_seen: Time.at(native.last_seen / 1000r), user_agent: native.user_agent,
          address: native.address, sockets: native.sockets)
    end
  end

  # What an HTTP request's Cookie header resolved to.
  class HttpOutcome
    def initialize(native)
      @native = native
      session = native.session
      @session = session && Session.new(session)
    end

    # The request's session, nil when its cookie was refused.
    attr_reader :session

    # The SessionRefused of a refused cookie, nil otherwise.
    def refusal
      refusal = @native.refusal
      refusal && SessionRefused.new(code: refusal.code, message: refusal.message,
                                    status: refusal.status, set_cookie: @native.set_cookie)
    end

    # The Set-Cookie value the response carries: read it when the response starts (it
    # follows save, regenerate and destroy made during the request).
    def set_cookie
      @native.set_cookie
    end
  end
end
