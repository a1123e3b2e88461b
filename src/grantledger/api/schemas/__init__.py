"""Wire models: request bodies (strict) and response bodies, with their row conversions."""
