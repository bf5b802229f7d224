//! Property test of the shared core against a plain reference model (filled in by the tests work).
