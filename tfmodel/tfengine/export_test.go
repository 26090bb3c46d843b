package tfengine

// SessionConfig exposes sessionConfig to the tests.
var SessionConfig = sessionConfig
