# frozen_string_literal: true

module Sessionio
  # Ruby values to and from the engine's value tree: nil, true/false, Integer (64 bits),
  # Float, String (UTF-8 text; a binary String — Encoding::BINARY — is binary data, a
  # Socket.IO attachment), Symbol (as text), Array, Hash (String or Symbol keys; they come
  # back as String). Session data is JSON: the same without binary data.
  module Values
    V = SessionioNative::Value
    Entry = SessionioNative::MapEntry
    # Deeper values are refused (a self-containing Array would recurse forever).
    MAX_DEPTH = 32
    I64 = (-(2**63))..((2**63) - 1)
    U64 = 0..((2**64) - 1)

    module_function

    def invalid(detail)
      SessionioNative.raise_invalid_value(detail)
    end

    # A Ruby value as an engine value.
    def lower(obj, depth = 0)
      invalid("a value nested more than #{MAX_DEPTH} levels deep cannot be sent") if depth > MAX_DEPTH
      case obj
      when nil then V::NIL.new
      when true, false then V::BOOL.new(value: obj)
      when Integer
        if I64.cover?(obj) then V::INT.new(value: obj)
        elsif U64.cover?(obj) then V::U_INT.new(value: obj)
        else invalid("integer #{obj} does not fit in 64 bits")
        end
      when Float then V::FLOAT.new(value: obj)
      when String then lower_string(obj)
      when Symbol then V::STR.new(value: obj.to_s)
      when Array then V::LIST.new(items: obj.map { |item| lower(item, depth + 1) })
      when Hash
        entries = obj.map do |key, value|
          unless key.is_a?(String) || key.is_a?(Symbol)
            invalid("a Hash key must be a String or a Symbol, not #{key.class}")
          end
          Entry.new(key: key.to_s, value: lower(value, depth + 1))
        end
        V::MAP.new(entries: entries)
      else
        invalid("a #{obj.class} cannot be sent: use Hash, Array, String, Symbol, Integer, " \
                "Float, true, false or nil")
      end
    end

    def lower_string(string)
      return V::BYTES.new(value: string) if string.encoding == Encoding::BINARY

      text = string.encoding == Encoding::UTF_8 ? string : string.encode(Encoding::UTF_8)
      invalid("a String that is not valid UTF-8 cannot be sent as text (mark binary data with .b)") unless text.valid_encoding?
      V::STR.new(value: text)
    rescue EncodingError => e
      invalid("a String in #{string.encoding} cannot be sent as text: #{e.message}")
    end

    # A Ruby value as the engine's text (a user id, a handle): its to_s, as UTF-8.
    def text(obj)
      string = obj.to_s
      return string if string.encoding == Encoding::UTF_8 && string.valid_encoding?

      utf8 = string.encoding == Encoding::BINARY ? string.dup.force_encoding(Encoding::UTF_8) : string.encode(Encoding::UTF_8)
      invalid("a String that is not valid UTF-8 cannot be sent as text") unless utf8.valid_encoding?
      utf8
    rescue EncodingError => e
      invalid("a String in #{string.encoding} cannot be sent as text: #{e.message}")
    end

    # An engine value as a Ruby value.
    def lift(value)
      case value
      when V::NIL, nil then nil
      when V::LIST then value.items.map { |item| lift(item) }
      when V::MAP then value.entries.to_h { |entry| [entry.key, lift(entry.value)] }
      else value.value
      end
    end

    # Keyword options as the engine's option map (snake_case names, as core reads them).
    def options(hash)
      lower(hash.transform_keys(&:to_s))
    end
  end
end
