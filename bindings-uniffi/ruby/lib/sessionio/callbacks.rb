# frozen_string_literal: true

module Sessionio
  # The objects the engine calls (uniffi foreign traits) around the app's blocks. The
  # engine calls them on a thread of its own: each call runs in a new Ruby thread. A
  # HandlerError's message reaches the client; any other exception is logged here with its
  # backtrace and the client is told `internal error`.
  module Callbacks
    module_function

    def guard(what)
      yield
    rescue HandlerError => e
      raise SessionioNative::SessionioError::Handler.new(message: e.message, answered: true)
    rescue Exception => e # rubocop:disable Lint/RescueException -- must never reach the engine's thread
      Sessionio.logger.error("#{what} raised #{e.class}: #{e.message}\n#{e.backtrace&.join("\n")}")
      raise SessionioNative::SessionioError::Handler.new(message: "#{e.class}: #{e.message}", answered: false)
    end

    # `block.call(socket, *args)`; its value answers the ack.
    class Event
      def initialize(event, block)
        @what = "handler of '#{event}'"
        @block = block
      end

      def handle(socket, args)
        Callbacks.guard(@what) do
          Values.lower(@block.call(Socket.new(socket), *args.map { |a| Values.lift(a) }))
        end
      end
    end

    # `block.call(socket, event, args)` before every event's handler.
    class Middleware
      def initialize(block)
        @block = block
      end

      def handle(socket, event, args)
        Callbacks.guard("middleware") do
          @block.call(Socket.new(socket), event, args.map { |a| Values.lift(a) })
          nil
        end
      end
    end

    # `block.call(socket)` for every accepted socket.
    class Connection
      def initialize(block)
        @block = block
      end

      def connected(socket)
        Callbacks.guard("on_connection callback") do
          @block.call(Socket.new(socket))
          nil
        end
      end
    end
  end
  private_constant :Callbacks
end
