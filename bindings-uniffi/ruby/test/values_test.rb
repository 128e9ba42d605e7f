# frozen_string_literal: true

require_relative "test_helper"

class ValuesTest < Minitest::Test
  V = Sessionio::Values

  def round_trip(value)
    V.lift(V.lower(value))
  end

  def test_what_crosses_and_how_it_comes_back
    assert_equal 2**64 - 1, round_trip(2**64 - 1)
    assert_equal(-(2**63), round_trip(-(2**63)))
    assert_equal "sym", round_trip(:sym)
    assert_equal({ "a" => [1, { "b" => nil }] }, round_trip({ a: [1, { b: nil }] }))
    assert_equal Encoding::UTF_8, round_trip("é".encode("ISO-8859-1")).encoding
    assert_equal "é", round_trip("é".encode("ISO-8859-1"))
    assert_equal Encoding::BINARY, round_trip("\xff".b).encoding
  end

  def test_what_cannot_cross_is_refused_with_a_clear_message
    {
      2**64 => "integer 18446744073709551616 does not fit in 64 bits",
      -(2**63) - 1 => "does not fit in 64 bits",
      Object.new => "cannot be sent: use Hash, Array, String",
      { 1 => 2 } => "a Hash key must be a String or a Symbol, not Integer",
      "\xff".dup.force_encoding(Encoding::UTF_8) => "not valid UTF-8"
    }.each do |value, message|
      error = assert_raises(Sessionio::InvalidValueError) { V.lower(value) }
      assert_includes error.message, message
      assert_equal "ERR_INVALID_VALUE", error.code
    end
    looped = []
    looped << looped
    deep = assert_raises(Sessionio::InvalidValueError) { V.lower(looped) }
    assert_includes deep.message, "nested more than 32 levels deep"
  end
end
