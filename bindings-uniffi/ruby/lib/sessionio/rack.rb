# frozen_string_literal: true

module Sessionio
  # The Rack middleware: every request gets its session.
  #
  #   use Sessionio::Rack::SessionMiddleware, engine
  #   # in the app: Sessionio::Rack.session_of(env), or with Sinatra
  #   register Sessionio::Rack::Sinatra   # current_session, optional_session
  #
  # It refuses cross-site state-changing requests (403 `origin not allowed`), resolves the
  # request's cookie with the engine and puts the Session in env["sessionio.session"] (nil
  # when the cookie was refused; regenerate, login and logout move it to the new
  # session), its id in env["sessionio.session_id"] and the refusal in
  # env["sessionio.refusal"]. The request's User-Agent and REMOTE_ADDR go with it: a
  # login records them for Engine#user_sessions. The response gets the Set-Cookie the
  # engine decided (a new session's only once the app wrote it or called save). A
  # SessionRefused or TooManySessionsError raised by the app is answered with its status
  # and message.
  module Rack
    SESSION = "sessionio.session"
    SESSION_ID = "sessionio.session_id"
    REFUSAL = "sessionio.refusal"

    # The request's session; raises the SessionRefused of a refused cookie.
    def self.session_of(env)
      raise ArgumentError, "Sessionio::Rack::SessionMiddleware is not installed" unless env.key?(SESSION)

      env[SESSION] || raise(env[REFUSAL])
    end

    # The request's session, nil when its cookie was refused (e.g. for a logout).
    def self.optional_session(env)
      raise ArgumentError, "Sessionio::Rack::SessionMiddleware is not installed" unless env.key?(SESSION)

      env[SESSION]
    end

    # A header's value as text: its bytes as Latin-1 when they are not all ASCII (as
    # Node and the Python binding read headers).
    def self.header(value)
      value.nil? || value.ascii_only? ? value : value.b.force_encoding(Encoding::ISO_8859_1)
    end

    # A text answer with the refusal's status and message.
    def self.answer(refusal, set_cookie = nil)
      headers = { "content-type" => "text/plain; charset=utf-8" }
      headers["set-cookie"] = set_cookie if set_cookie
      [refusal.status, headers, [refusal.message]]
    end

    class SessionMiddleware
      def initialize(app, engine)
        @app = app
        @engine = engine
      end

      def call(env)
        forged = @engine.check_request_site(env["REQUEST_METHOD"], origin: env["HTTP_ORIGIN"],
                                                                  fetch_site: env["HTTP_SEC_FETCH_SITE"],
                                                                  host: env["HTTP_HOST"])
        return Rack.answer(forged) if forged

        outcome = @engine.http_request(Rack.header(env["HTTP_COOKIE"]),
                                       user_agent: Rack.header(env["HTTP_USER_AGENT"]),
                                       address: env["REMOTE_ADDR"])
        env[SESSION] = outcome.session&.in_request(env)
        env[SESSION_ID] = outcome.session&.id
        env[REFUSAL] = outcome.refusal
        begin
          status, headers, body = @app.call(env)
        rescue Refusal => e
          return Rack.answer(e, outcome.set_cookie)
        end
        [status, with_cookie(headers, outcome.set_cookie), body]
      end

      private

      # Adds the engine's Set-Cookie (read now: it follows regenerate and destroy) to the
      # app's, which Rack 2 joins with newlines.
      def with_cookie(headers, cookie)
        return headers unless cookie

        name = headers.keys.find { |k| k.casecmp?("set-cookie") } || "set-cookie"
        existing = headers[name]
        headers[name] = existing.nil? || existing.empty? ? cookie : "#{existing}\n#{cookie}"
        headers
      end
    end

    # Sinatra (or any app with `env` and `halt`) helpers.
    module Helpers
      # The request's session; a refused cookie halts with its status and message.
      def current_session
        Rack.session_of(env)
      rescue Refusal => e
        halt(*Rack.answer(e)) # the middleware adds the cookie the engine decided
      end

      # The request's session, nil when its cookie was refused.
      def optional_session
        Rack.optional_session(env)
      end
    end

    # The Sinatra extension: the Helpers, and a SessionRefused or TooManySessionsError
    # raised in a route answered with its status and message (not 500).
    module Sinatra
      def self.registered(app)
        app.helpers Helpers
        app.error SessionRefused, TooManySessionsError do
          refusal = env["sinatra.error"]
          status refusal.status
          content_type "text/plain", charset: "utf-8"
          refusal.message
        end
      end
    end
  end
end
