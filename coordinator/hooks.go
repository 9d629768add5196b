package coordinator

// testHooks are fault-injection points for the package's own tests: each
// non-nil function is called at the named point of the engine. Production
// configurations leave Config.hooks nil, and every call site checks for it.
type testHooks struct{}
