# frozen_string_literal: true

module Sessionio
  VERSION = "0.1.0"
end
